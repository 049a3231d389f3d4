"""Tests for the Parzen-window log-likelihood against brute-force references."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gan_jax import metrics


def _reference_log_likelihoods(samples, points, sigma):
  """log mean_i N(x; mu_i, sigma^2 I) with direct differences and a plain log-mean-exp."""
  d = samples.shape[1]
  sq = np.sum((points[:, None, :] - samples[None, :, :]) ** 2, axis=-1)
  log_kernel = -sq / (2.0 * sigma ** 2) - 0.5 * d * np.log(2.0 * np.pi * sigma ** 2)
  return np.log(np.mean(np.exp(log_kernel), axis=1))


def _data(seed, n=300, m=80, d=3):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.1


@pytest.mark.parametrize("sigma,batch_size", [(0.7, 512), (0.3, 7)])
def test_matches_brute_force_log_mean_exp(sigma, batch_size):
  samples, test = _data(0)
  mean, std_error = metrics.parzen_log_likelihood(samples, test, sigma, batch_size=batch_size)
  ll = _reference_log_likelihoods(samples, test, sigma)
  assert isinstance(mean, float) and isinstance(std_error, float)
  np.testing.assert_allclose(mean, np.mean(ll), rtol=1e-10)
  np.testing.assert_allclose(std_error, np.std(ll) / np.sqrt(len(ll)), rtol=1e-8)


def test_matches_scipy_mixture_density():
  samples, test = _data(1, n=50, m=10, d=2)
  sigma = 0.5
  density = np.mean([stats.multivariate_normal(mu, sigma ** 2 * np.eye(2)).pdf(test)
                     for mu in samples], axis=0)
  mean, _ = metrics.parzen_log_likelihood(samples, test, sigma)
  np.testing.assert_allclose(mean, np.mean(np.log(density)), rtol=1e-10)


def test_stable_for_tiny_bandwidth():
  # exp() of every kernel term underflows except the one at distance 0; the
  # naive log-mean-exp gives -inf but the answer is finite and known.
  rng = np.random.default_rng(2)
  samples = rng.normal(size=(40, 5)) * 10.0
  sigma, n, d = 1e-3, 40, 5
  with np.errstate(divide="ignore"):
    assert np.isneginf(_reference_log_likelihoods(samples, samples[:1] + 0.1, sigma)).all()
  mean, std_error = metrics.parzen_log_likelihood(samples, samples[:3], sigma)
  expected = -math.log(n) - 0.5 * d * math.log(2.0 * math.pi * sigma ** 2)
  np.testing.assert_allclose(mean, expected, rtol=1e-10)
  assert std_error < 1e-9
  far_mean, _ = metrics.parzen_log_likelihood(samples, samples[:1] + 0.1, sigma)
  assert np.isfinite(far_mean)


def test_accepts_jax_arrays():
  samples, test = _data(3)
  expected = metrics.parzen_log_likelihood(samples.astype(np.float32),
                                           test.astype(np.float32), 0.5)
  got = metrics.parzen_log_likelihood(jnp.asarray(samples), jnp.asarray(test), 0.5)
  np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_bandwidth_selection_maximises_validation_likelihood():
  samples, valid = _data(4, n=200, m=100, d=2)
  sigmas = np.logspace(-2, 1, 13)
  with np.errstate(divide="ignore"):  # -inf for the smallest sigmas ranks them last.
    scores = [np.mean(_reference_log_likelihoods(samples, valid, s)) for s in sigmas]
  best = int(np.argmax(scores))
  assert 0 < best < len(sigmas) - 1  # An interior optimum: the choice matters.
  chosen = metrics.select_parzen_bandwidth(samples, valid, sigmas)
  assert chosen == pytest.approx(sigmas[best], rel=1e-12)
  # Reversing the candidate order must not change the answer.
  assert metrics.select_parzen_bandwidth(samples, valid, sigmas[::-1]) == chosen


@pytest.mark.parametrize("fn,args,match", [
    (metrics.parzen_log_likelihood, (np.zeros(3), np.zeros((2, 3)), 1.0), "2-D"),
    (metrics.parzen_log_likelihood, (np.zeros((3, 2)), np.zeros((2, 3)), 1.0),
     "same feature dimension"),
    (metrics.parzen_log_likelihood, (np.zeros((3, 2)), np.zeros((2, 2)), 0.0), "sigma"),
    (metrics.parzen_log_likelihood, (np.zeros((3, 2)), np.zeros((0, 2)), 1.0), "at least 1"),
    (metrics.select_parzen_bandwidth, (np.zeros((3, 2)), np.zeros((2, 2)), []), "non-empty"),
    (metrics.select_parzen_bandwidth, (np.zeros((3, 2)), np.zeros((2, 2)), [0.1, -1.0]),
     "sigma"),
    (metrics.select_parzen_bandwidth, (np.zeros((3, 2)), np.zeros((2, 3)), [0.1]),
     "same feature dimension"),
])
def test_bad_inputs_raise(fn, args, match):
  with pytest.raises(ValueError, match=match):
    fn(*args)
