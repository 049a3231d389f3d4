"""Inception Score (IS) from a classifier's predictive distributions.

    IS = exp(E_x KL(p(y | x) || p(y))),   p(y) = E_x p(y | x),

estimated separately on ``num_splits`` disjoint splits of the samples; the
mean and standard deviation over splits are reported. IS lies in [1, C] for C
classes: it is C when every prediction is confident (one-hot) and the classes
are used uniformly, and 1 when all predictions are identical.

Reference: Salimans et al. 2016, "Improved Techniques for Training GANs",
section 4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from gan_jax.metrics import _checks

# Rows of ``class_probs`` must sum to 1 within this tolerance (softmax outputs
# in float32 over ~1000 classes are off by ~1e-6).
_SUM_TOLERANCE = 1e-3


def _split_score(probs: np.ndarray) -> float:
  """exp(mean_x KL(p(y|x) || p(y))) for one split, with 0 log 0 = 0."""
  marginal = np.mean(probs, axis=0, keepdims=True)
  # xlogy(0, .) = 0, so classes a sample gives zero probability contribute
  # nothing and no log(0) is taken. Where p(y|x) > 0, p(y) > 0 as well.
  kl = np.sum(special.xlogy(probs, probs) - special.xlogy(probs, marginal), axis=1)
  return float(np.exp(np.mean(kl)))


def inception_score(class_probs: Any, num_splits: int = 10) -> tuple[float, float]:
  """Inception Score of a set of class distributions p(y | x).

  Args:
    class_probs: array [N, C] of class probabilities (softmax outputs, not
      logits), one row per generated sample; rows must be non-negative and
      sum to 1 (within 1e-3).
    num_splits: number of contiguous, disjoint splits (1 <= num_splits <= N).
      Split i holds rows [i N // num_splits, (i + 1) N // num_splits), as in
      the paper's code, so every row is used.

  Returns:
    ``(mean, std)`` of the per-split scores as Python floats; ``std`` uses
    ddof=0 as in the paper's code.

  Raises:
    ValueError: if ``class_probs`` is not 2-D, not finite, has negative
      entries or rows that do not sum to 1, or ``num_splits`` is not in
      [1, N].

  References:
    Salimans et al. 2016, section 4.
  """
  probs = _checks.as_matrix(class_probs, "class_probs", min_rows=1)
  num_splits = _checks.check_positive_int(num_splits, "num_splits")
  n = probs.shape[0]
  if num_splits > n:
    raise ValueError(
        f"num_splits must be between 1 and the number of samples {n}, got {num_splits}")
  if np.any(probs < 0.0):
    raise ValueError(
        "class_probs must be probabilities (non-negative); pass softmax outputs, not logits")
  row_sums = np.sum(probs, axis=1)
  if np.any(np.abs(row_sums - 1.0) > _SUM_TOLERANCE):
    worst = float(row_sums[np.argmax(np.abs(row_sums - 1.0))])
    raise ValueError(
        f"each row of class_probs must sum to 1 (within {_SUM_TOLERANCE}), found a row "
        f"summing to {worst}; pass softmax outputs, not logits")
  scores = np.array([
      _split_score(probs[i * n // num_splits:(i + 1) * n // num_splits])
      for i in range(num_splits)
  ])
  return float(np.mean(scores)), float(np.std(scores))
