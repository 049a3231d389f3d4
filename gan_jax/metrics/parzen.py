"""Parzen-window (Gaussian kernel density) log-likelihood of test data.

A model's samples mu_1..mu_N define the density estimate

    p(x) = 1 / N sum_i N(x; mu_i, sigma^2 I),

so for x in R^D

    log p(x) = logsumexp_i(-||x - mu_i||^2 / (2 sigma^2)) - log N
               - (D / 2) log(2 pi sigma^2).

The bandwidth sigma is chosen by maximising the likelihood of a validation
set, and the mean log-likelihood of a test set is reported with its standard
error. This is the protocol behind table 1 of the original GAN paper. The
estimate is known to be high-variance and poor in high dimensions (Theis et
al. 2016, "A note on the evaluation of generative models"); use it to compare
with that literature, not as a measure of sample quality.

References: Breuleux et al. 2011, "Quickly Generating Representative Samples
from an RBM-Derived Process"; Goodfellow et al. 2014, "Generative Adversarial
Nets", section 5 and table 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from gan_jax.metrics import _checks

_DEFAULT_BATCH = 512


def _check_sigma(sigma: Any) -> float:
  sigma = float(sigma)
  if not (np.isfinite(sigma) and sigma > 0.0):
    raise ValueError(f"sigma must be a positive finite number, got {sigma}")
  return sigma


def _log_likelihoods(samples: np.ndarray, points: np.ndarray, sigma: float,
                     batch_size: int) -> np.ndarray:
  """log p(x) for each row x of ``points`` under the Parzen window of ``samples``."""
  n, d = samples.shape
  log_norm = np.log(n) + 0.5 * d * np.log(2.0 * np.pi * sigma ** 2)
  out = np.empty(points.shape[0], dtype=np.float64)
  for rows in _checks.row_batches(points.shape[0], batch_size):
    d2 = _checks.squared_distances(points[rows], samples)
    out[rows] = special.logsumexp(-d2 / (2.0 * sigma ** 2), axis=1) - log_norm
  return out


def parzen_log_likelihood(samples: Any, test_points: Any, sigma: float, *,
                          batch_size: int = _DEFAULT_BATCH) -> tuple[float, float]:
  """Mean Parzen-window log-likelihood of test points and its standard error.

  Args:
    samples: model samples [N, D] (flatten images first), N >= 1; the kernel
      centres.
    test_points: held-out data [M, D], M >= 1.
    sigma: the Gaussian kernel's standard deviation (> 0), in the same units
      as the data.
    batch_size: test points whose [batch, N] distance block is held at once.

  Returns:
    ``(mean, std_error)`` over test points as Python floats, in nats; the
    standard error is std / sqrt(M) with the population std (ddof=0), as in
    the GAN paper's evaluation script.

  Raises:
    ValueError: if an input is not 2-D or not finite, the dimensions differ,
      or ``sigma`` or ``batch_size`` is not positive.

  References:
    Goodfellow et al. 2014, table 1; Breuleux et al. 2011.
  """
  centres = _checks.as_matrix(samples, "samples", min_rows=1)
  points = _checks.as_matrix(test_points, "test_points", min_rows=1)
  _checks.check_same_dim(centres, points, "samples", "test_points")
  sigma = _check_sigma(sigma)
  batch_size = _checks.check_positive_int(batch_size, "batch_size")
  ll = _log_likelihoods(centres, points, sigma, batch_size)
  return float(np.mean(ll)), float(np.std(ll) / np.sqrt(ll.shape[0]))


def select_parzen_bandwidth(samples: Any, validation_points: Any, sigmas: Any, *,
                            batch_size: int = _DEFAULT_BATCH) -> float:
  """The candidate bandwidth with the highest mean validation log-likelihood.

  Args:
    samples: model samples [N, D], N >= 1.
    validation_points: held-out validation data [M, D], M >= 1 (not the test
      set).
    sigmas: 1-D sequence of candidate bandwidths (> 0), e.g.
      ``np.logspace(-1, 0, 10)`` as used for MNIST in the GAN paper's code.
    batch_size: validation points whose distance block is held at once.

  Returns:
    The best sigma as a Python float; the first one on ties.

  Raises:
    ValueError: if ``sigmas`` is empty, not 1-D or holds a non-positive or
      non-finite value, or on the conditions of ``parzen_log_likelihood``.

  References:
    Goodfellow et al. 2014, section 5 (bandwidth obtained by cross-validation
    on the validation set).
  """
  centres = _checks.as_matrix(samples, "samples", min_rows=1)
  points = _checks.as_matrix(validation_points, "validation_points", min_rows=1)
  _checks.check_same_dim(centres, points, "samples", "validation_points")
  batch_size = _checks.check_positive_int(batch_size, "batch_size")
  candidates = np.asarray(sigmas, dtype=np.float64)
  if candidates.ndim != 1 or candidates.shape[0] < 1:
    raise ValueError(f"sigmas must be a non-empty 1-D sequence, got shape {candidates.shape}")
  scores = [np.mean(_log_likelihoods(centres, points, _check_sigma(s), batch_size))
            for s in candidates]
  return float(candidates[int(np.argmax(scores))])
