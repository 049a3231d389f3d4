"""Frechet distance between Gaussian fits of two feature sets (FID).

Each feature set (e.g. Inception pool3 activations of real and generated
images) is summarised by its mean and covariance; the Frechet (2-Wasserstein)
distance between the two Gaussians N(mu_a, S_a) and N(mu_b, S_b) is

    d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}).

The statistics of a fixed reference set can be computed once with
``feature_statistics`` and reused with ``frechet_distance_from_stats``.

Reference: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium", eq. (6); Dowson & Landau 1982 for the
Frechet distance between Gaussians.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_jax.metrics import _checks


def feature_statistics(feats: Any) -> tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance of a feature set.

  Args:
    feats: array [N, D] of features, one sample per row, N >= 2.

  Returns:
    ``(mu, sigma)``: float64 arrays of shapes [D] and [D, D]; ``sigma`` is the
    unbiased (1 / (N - 1)) covariance of the columns.

  Raises:
    ValueError: if ``feats`` is not 2-D, has fewer than 2 rows, or is not finite.
  """
  x = _checks.as_matrix(feats, "feats", min_rows=2)
  mu = np.mean(x, axis=0)
  centred = x - mu
  sigma = centred.T @ centred / (x.shape[0] - 1)
  return mu, sigma


def _check_stats(mu: Any, sigma: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
  mu = np.asarray(mu, dtype=np.float64)
  sigma = np.asarray(sigma, dtype=np.float64)
  if mu.ndim != 1:
    raise ValueError(f"{name} mean must be a 1-D array [D], got shape {mu.shape}")
  if sigma.shape != (mu.shape[0], mu.shape[0]):
    raise ValueError(
        f"{name} covariance must have shape [D, D] = {(mu.shape[0],) * 2} to match its "
        f"mean, got {sigma.shape}")
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    raise ValueError(f"{name} statistics contain NaN or infinite values; only finite allowed")
  return mu, sigma


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric positive semi-definite matrix."""
  sym = 0.5 * (sigma + sigma.T)
  eigvals, eigvecs = np.linalg.eigh(sym)
  # A covariance is PSD; rounding can leave eigenvalues of order -1e-16 * ||S||.
  root = np.sqrt(np.clip(eigvals, 0.0, None))
  return (eigvecs * root) @ eigvecs.T


def trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
  """Tr((S_a S_b)^{1/2}) for symmetric PSD S_a and S_b, without complex numbers.

  S_a S_b is not symmetric, but it is similar to the symmetric PSD matrix
  M = S_a^{1/2} S_b S_a^{1/2} (the non-zero eigenvalues of XY and YX agree,
  with X = S_a^{1/2}, Y = S_a^{1/2} S_b), so both have the same non-negative
  eigenvalues l_i and Tr((S_a S_b)^{1/2}) = sum_i sqrt(l_i). M's eigenvalues
  come from ``eigvalsh`` and tiny negative ones from rounding are clamped to 0.

  Args:
    sigma_a: float64 array [D, D], symmetric PSD.
    sigma_b: float64 array [D, D], symmetric PSD.

  Returns:
    The trace as a Python float.
  """
  root_a = _psd_sqrt(sigma_a)
  middle = root_a @ sigma_b @ root_a
  middle = 0.5 * (middle + middle.T)
  eigvals = np.linalg.eigvalsh(middle)
  return float(np.sum(np.sqrt(np.clip(eigvals, 0.0, None))))


def frechet_distance_from_stats(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

  Args:
    mu1: mean [D] of the first Gaussian.
    sigma1: covariance [D, D] of the first Gaussian (symmetric PSD).
    mu2: mean [D] of the second Gaussian.
    sigma2: covariance [D, D] of the second Gaussian (symmetric PSD).

  Returns:
    ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^{1/2}) as
    a Python float. The value is mathematically >= 0; a negative value left by
    rounding (when the two Gaussians coincide) is returned as 0.

  Raises:
    ValueError: if shapes are inconsistent (mu not [D], sigma not [D, D], or
      the two dimensions differ) or the statistics are not finite.

  References:
    Heusel et al. 2017, eq. (6); Dowson & Landau 1982.
  """
  mu1, sigma1 = _check_stats(mu1, sigma1, "first")
  mu2, sigma2 = _check_stats(mu2, sigma2, "second")
  if mu1.shape != mu2.shape:
    raise ValueError(
        f"the two sets of statistics must have the same dimension, got {mu1.shape[0]} "
        f"and {mu2.shape[0]}")
  diff = mu1 - mu2
  value = (float(diff @ diff) + float(np.trace(sigma1)) + float(np.trace(sigma2))
           - 2.0 * trace_sqrt_product(sigma1, sigma2))
  return max(value, 0.0)


def frechet_distance(feats_a: Any, feats_b: Any) -> float:
  """Frechet distance between Gaussian fits of two feature sets (FID on Inception features).

  Args:
    feats_a: features [N_a, D] of the first set (e.g. real images), N_a >= 2.
    feats_b: features [N_b, D] of the second set (e.g. generated images),
      N_b >= 2.

  Returns:
    The Frechet distance as a Python float (lower is better; 0 when the two
    sets have the same mean and covariance). It is biased upwards for small
    N; compare values computed with the same N.

  Raises:
    ValueError: if an input is not 2-D, has fewer than 2 rows, is not finite,
      or the feature dimensions differ.

  References:
    Heusel et al. 2017, eq. (6).
  """
  a = _checks.as_matrix(feats_a, "feats_a", min_rows=2)
  b = _checks.as_matrix(feats_b, "feats_b", min_rows=2)
  _checks.check_same_dim(a, b, "feats_a", "feats_b")
  mu_a, sigma_a = feature_statistics(a)
  mu_b, sigma_b = feature_statistics(b)
  return frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b)
