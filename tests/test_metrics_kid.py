"""Tests for gan_jax.metrics.kid against an explicit double-loop MMD^2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import metrics


def _loop_mmd2(x, y):
  """Unbiased MMD^2 (Gretton et al. 2012, lemma 6) with the KID kernel, by loops."""
  m, d = x.shape

  def k(u, v):
    return (float(np.dot(u, v)) / d + 1.0) ** 3

  k_xx = k_yy = k_xy = 0.0
  for i in range(m):
    for j in range(m):
      if i != j:
        k_xx += k(x[i], x[j])
        k_yy += k(y[i], y[j])
      k_xy += k(x[i], y[j])
  return k_xx / (m * (m - 1)) + k_yy / (m * (m - 1)) - 2.0 * k_xy / m ** 2


def _triu_mmd2(x, y):
  """The same estimator from the strict upper triangles (kernel is symmetric)."""
  m, d = x.shape
  k_xx = (x @ x.T / d + 1.0) ** 3
  k_yy = (y @ y.T / d + 1.0) ** 3
  k_xy = (x @ y.T / d + 1.0) ** 3
  upper = np.triu(np.ones((m, m), dtype=bool), k=1)
  return (2.0 * (k_xx[upper].sum() + k_yy[upper].sum()) / (m * (m - 1))
          - 2.0 * k_xy.mean())


def test_whole_set_subsets_match_double_loop():
  # With equal set sizes and subset_size clipped to that size, every subset is
  # a permutation of the full sets, so each estimate equals the full MMD^2.
  rng = np.random.default_rng(0)
  x = rng.normal(size=(20, 5))
  y = rng.normal(size=(20, 5)) * 1.3 + 0.4
  expected = _loop_mmd2(x, y)
  np.testing.assert_allclose(_triu_mmd2(x, y), expected, rtol=1e-10)
  mean, std = metrics.kernel_inception_distance(x, y, num_subsets=3, subset_size=1000, seed=0)
  assert isinstance(mean, float) and isinstance(std, float)
  np.testing.assert_allclose(mean, expected, rtol=1e-9)
  assert std < 1e-9 * abs(expected)


def test_subset_size_is_clipped_to_smaller_set():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(30, 4)), rng.normal(size=(15, 4)) + 0.5
  clipped = metrics.kernel_inception_distance(x, y, num_subsets=5, subset_size=100, seed=3)
  explicit = metrics.kernel_inception_distance(x, y, num_subsets=5, subset_size=15, seed=3)
  assert clipped == explicit


def test_same_distribution_near_zero_and_shift_clearly_positive():
  rng = np.random.default_rng(2)
  a = rng.normal(size=(600, 16))
  b = rng.normal(size=(600, 16))
  shifted = rng.normal(size=(600, 16)) + 0.5
  kwargs = dict(num_subsets=20, subset_size=200)
  same_mean, same_std = metrics.kernel_inception_distance(a, b, **kwargs)
  shift_mean, shift_std = metrics.kernel_inception_distance(a, shifted, **kwargs)
  # The unbiased estimate of a zero MMD is zero-mean: within a few subset stds.
  assert abs(same_mean) < 3.0 * same_std
  assert shift_mean > 10.0 * (abs(same_mean) + same_std)
  assert shift_mean > 5.0 * shift_std


def test_seed_is_explicit_and_reproducible():
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(100, 6)), rng.normal(size=(80, 6)) + 0.2
  kwargs = dict(num_subsets=4, subset_size=30)
  assert (metrics.kernel_inception_distance(a, b, seed=11, **kwargs)
          == metrics.kernel_inception_distance(a, b, seed=11, **kwargs))
  assert (metrics.kernel_inception_distance(a, b, seed=11, **kwargs)
          != metrics.kernel_inception_distance(a, b, seed=12, **kwargs))
  # A numpy Generator seeded the same way gives the same draws as the int.
  assert (metrics.kernel_inception_distance(a, b, seed=np.random.default_rng(11), **kwargs)
          == metrics.kernel_inception_distance(a, b, seed=11, **kwargs))
  # jax keys: typed and raw keys with the same data agree; other keys differ.
  typed = metrics.kernel_inception_distance(a, b, seed=jax.random.key(5), **kwargs)
  raw = metrics.kernel_inception_distance(a, b, seed=jax.random.PRNGKey(5), **kwargs)
  other = metrics.kernel_inception_distance(a, b, seed=jax.random.key(6), **kwargs)
  assert typed == raw
  assert typed != other


def test_accepts_jax_arrays():
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1.0
  expected = metrics.kernel_inception_distance(a.astype(np.float32), b.astype(np.float32),
                                               num_subsets=2, subset_size=20, seed=1)
  got = metrics.kernel_inception_distance(jnp.asarray(a), jnp.asarray(b),
                                          num_subsets=2, subset_size=20, seed=1)
  np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("a,b,kwargs,match", [
    (np.zeros(10), np.zeros((10, 2)), {}, "2-D"),
    (np.ones((10, 3)), np.ones((10, 2)), {}, "same feature dimension"),
    (np.ones((1, 3)), np.ones((10, 3)), {}, "at least 2"),
    (np.ones((10, 3)), np.ones((10, 3)), {"num_subsets": 0}, "num_subsets"),
    (np.ones((10, 3)), np.ones((10, 3)), {"subset_size": 1}, "subset_size"),
    (np.ones((10, 3)), np.ones((10, 3)), {"seed": -1}, "seed"),
    (np.ones((10, 3)), np.ones((10, 3)), {"seed": "abc"}, "seed"),
])
def test_bad_inputs_raise(a, b, kwargs, match):
  with pytest.raises(ValueError, match=match):
    metrics.kernel_inception_distance(a, b, **kwargs)
