"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic polynomial kernel.

KID compares two feature sets X = {x_i} and Y = {y_j} of size m with the
kernel k(x, y) = (x . y / d + 1)^3, d the feature dimension, through the
unbiased estimator of the squared maximum mean discrepancy

    MMD^2_u = 1 / (m (m - 1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)]
              - 2 / m^2 sum_{i, j} k(x_i, y_j).

Unlike FID it is unbiased, so values from different sample sizes can be
compared, and it can be slightly negative. Following the paper, the estimate
is averaged over random subsets of both sets; the subsets are drawn from an
explicit seed, so the result is reproducible.

Reference: Binkowski et al. 2018, "Demystifying MMD GANs", section 4 and
appendix A; Gretton et al. 2012, "A Kernel Two-Sample Test", lemma 6 (the
unbiased MMD^2 estimator).
"""

from __future__ import annotations

from typing import Any, Union

import jax
import numpy as np

from gan_jax.metrics import _checks

SeedLike = Union[int, np.random.Generator, jax.Array]


def _as_generator(seed: SeedLike) -> np.random.Generator:
  """A numpy Generator from an int seed, a Generator, or a jax PRNG key."""
  if isinstance(seed, np.random.Generator):
    return seed
  if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
    if seed < 0:
      raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(int(seed))
  if isinstance(seed, jax.Array):
    if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
      seed = jax.random.key_data(seed)
    # Both typed keys and raw uint32 keys become a sequence of entropy words.
    words = np.asarray(seed).astype(np.uint32).ravel().tolist()
    return np.random.default_rng(words)
  raise ValueError(
      "seed must be a non-negative int, a numpy Generator or a jax PRNG key, got "
      f"{type(seed).__name__}")


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """The KID kernel k(x, y) = (x . y / d + 1)^3 for all row pairs.

  Args:
    x: float64 array [M, D].
    y: float64 array [N, D].

  Returns:
    float64 array [M, N] of kernel values.

  References:
    Binkowski et al. 2018, section 4 (the default kernel of KID).
  """
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 between two equally sized samples under ``polynomial_kernel``.

  Args:
    x: float64 array [m, D], m >= 2.
    y: float64 array [m, D].

  Returns:
    The unbiased estimate as a Python float (may be slightly negative).

  References:
    Gretton et al. 2012, lemma 6.
  """
  m = x.shape[0]
  k_xx = polynomial_kernel(x, x)
  k_yy = polynomial_kernel(y, y)
  k_xy = polynomial_kernel(x, y)
  within = (np.sum(k_xx) - np.trace(k_xx) + np.sum(k_yy) - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * np.mean(k_xy))


def kernel_inception_distance(feats_a: Any,
                              feats_b: Any,
                              num_subsets: int = 100,
                              subset_size: int = 1000,
                              seed: SeedLike = 0) -> tuple[float, float]:
  """KID between two feature sets, averaged over random subsets.

  For each of ``num_subsets`` rounds, ``subset_size`` rows are drawn without
  replacement from each set (independently across rounds) and the unbiased
  MMD^2 of the two subsets is computed.

  Args:
    feats_a: features [N_a, D] of the first set, N_a >= 2.
    feats_b: features [N_b, D] of the second set, N_b >= 2.
    num_subsets: number of random subsets to average over (>= 1).
    subset_size: rows per subset (>= 2); clipped to min(N_a, N_b).
    seed: where the subsets come from: a non-negative int seed, a
      ``np.random.Generator`` (advanced in place), or a jax PRNG key (typed or
      raw uint32), whose data seeds a numpy Generator. The same seed gives the
      same result.

  Returns:
    ``(mean, std)`` over subsets, as Python floats. ``std`` is the population
    standard deviation (ddof=0) of the per-subset estimates, as reported in the
    paper's code; it measures subset-to-subset spread, not the mean's error.

  Raises:
    ValueError: on inputs that are not 2-D, have fewer than 2 rows, are not
      finite or have different feature dimensions, or on invalid
      ``num_subsets``, ``subset_size`` or ``seed``.

  References:
    Binkowski et al. 2018, section 4 and appendix A.
  """
  a = _checks.as_matrix(feats_a, "feats_a", min_rows=2)
  b = _checks.as_matrix(feats_b, "feats_b", min_rows=2)
  _checks.check_same_dim(a, b, "feats_a", "feats_b")
  num_subsets = _checks.check_positive_int(num_subsets, "num_subsets")
  subset_size = _checks.check_positive_int(subset_size, "subset_size", minimum=2)
  rng = _as_generator(seed)
  m = min(subset_size, a.shape[0], b.shape[0])
  estimates = np.empty(num_subsets, dtype=np.float64)
  for s in range(num_subsets):
    idx_a = rng.choice(a.shape[0], size=m, replace=False)
    idx_b = rng.choice(b.shape[0], size=m, replace=False)
    estimates[s] = mmd2_unbiased(a[idx_a], b[idx_b])
  return float(np.mean(estimates)), float(np.std(estimates))
