"""Tests for gan_jax.metrics.fid against an independent scipy transcription."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg

from gan_jax import metrics


def _reference_fid(a, b):
  """Heusel et al. 2017, eq. (6), with scipy's general matrix square root."""
  mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
  s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = linalg.sqrtm(s_a @ s_b)
  covmean = np.real(covmean)
  return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b)
               - 2.0 * np.trace(covmean))


def _correlated(rng, n, d):
  mixing = rng.normal(size=(d, d))
  return rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)


def test_feature_statistics_match_numpy():
  x = _correlated(np.random.default_rng(0), 50, 6)
  mu, sigma = metrics.feature_statistics(x)
  np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(x, rowvar=False, ddof=1), rtol=1e-10)


def test_matches_scipy_sqrtm_on_random_data():
  rng = np.random.default_rng(1)
  a = _correlated(rng, 400, 12)
  b = 0.7 * _correlated(rng, 300, 12) + 0.3
  expected = _reference_fid(a, b)
  assert expected > 1.0  # The two sets differ, so the check is not vacuous.
  np.testing.assert_allclose(metrics.frechet_distance(a, b), expected, rtol=1e-8)


def test_rank_deficient_covariance_matches_eigenvalue_reference():
  # N < D: both covariances are singular, where sqrtm is unreliable. The
  # reference uses Tr((S_a S_b)^{1/2}) = sum_i sqrt(eig_i(S_a S_b)).
  rng = np.random.default_rng(2)
  a = rng.normal(size=(10, 32))
  b = rng.normal(size=(12, 32)) * 2.0
  s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  eig = np.real(np.linalg.eigvals(s_a @ s_b))
  expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a) + np.trace(s_b)
              - 2.0 * np.sum(np.sqrt(np.clip(eig, 0.0, None))))
  value = metrics.frechet_distance(a, b)
  assert isinstance(value, float)
  np.testing.assert_allclose(value, expected, rtol=1e-7)


@pytest.mark.parametrize("n,d", [(500, 8), (40, 64)])
def test_identical_sets_give_zero(n, d):
  a = _correlated(np.random.default_rng(3), n, d)
  scale = np.trace(np.cov(a, rowvar=False))
  value = metrics.frechet_distance(a, a.copy())
  assert 0.0 <= value < 1e-6 * scale


def test_mean_shift_gives_squared_norm():
  rng = np.random.default_rng(4)
  a = _correlated(rng, 300, 10)
  v = rng.normal(size=10)
  np.testing.assert_allclose(metrics.frechet_distance(a, a + v), np.sum(v ** 2), rtol=1e-8)


def test_diagonal_gaussians_closed_form():
  # For commuting (diagonal) covariances the trace term reduces to
  # sum_i (sqrt(s1_i) - sqrt(s2_i))^2.
  rng = np.random.default_rng(5)
  mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
  v1, v2 = rng.uniform(0.1, 3.0, size=7), rng.uniform(0.1, 3.0, size=7)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  value = metrics.frechet_distance_from_stats(mu1, np.diag(v1), mu2, np.diag(v2))
  np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_from_stats_agrees_and_is_symmetric():
  rng = np.random.default_rng(6)
  a, b = _correlated(rng, 200, 5), _correlated(rng, 150, 5)
  direct = metrics.frechet_distance(a, b)
  cached = metrics.frechet_distance_from_stats(*metrics.feature_statistics(a),
                                               *metrics.feature_statistics(b))
  np.testing.assert_allclose(cached, direct, rtol=1e-12)
  np.testing.assert_allclose(metrics.frechet_distance(b, a), direct, rtol=1e-8)


def test_accepts_jax_arrays():
  rng = np.random.default_rng(7)
  a, b = rng.normal(size=(100, 4)), rng.normal(size=(120, 4)) + 1.0
  expected = metrics.frechet_distance(a.astype(np.float32), b.astype(np.float32))
  np.testing.assert_allclose(metrics.frechet_distance(jnp.asarray(a), jnp.asarray(b)),
                             expected, rtol=1e-6)


@pytest.mark.parametrize("a,b,match", [
    (np.zeros(10), np.zeros((10, 2)), "2-D"),
    (np.zeros((10, 2, 2)), np.zeros((10, 2)), "2-D"),
    (np.ones((10, 3)), np.ones((10, 4)), "same feature dimension"),
    (np.ones((1, 3)), np.ones((10, 3)), "at least 2"),
    (np.full((5, 3), np.nan), np.ones((10, 3)), "NaN"),
])
def test_bad_inputs_raise(a, b, match):
  with pytest.raises(ValueError, match=match):
    metrics.frechet_distance(a, b)


def test_bad_stats_raise():
  with pytest.raises(ValueError, match="covariance must have shape"):
    metrics.frechet_distance_from_stats(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="same dimension"):
    metrics.frechet_distance_from_stats(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
  with pytest.raises(ValueError, match="1-D"):
    metrics.frechet_distance_from_stats(np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3))
