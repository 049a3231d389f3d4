"""Input validation and small numeric helpers shared by the metric modules.

Metrics are evaluated off the training step, on host memory, in float64
numpy: they are reductions over a few thousand feature vectors where the
accuracy of float64 matters more than speed (e.g. the matrix square root in
FID). Every public metric converts its inputs with ``as_matrix`` first, so it
accepts numpy arrays, jax arrays and nested lists alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_matrix(x: Any, name: str, *, min_rows: int = 1) -> np.ndarray:
  """Converts ``x`` to a finite float64 array of shape [N, D] with N >= min_rows.

  Args:
    x: a numpy or jax array (or anything ``np.asarray`` accepts).
    name: the argument's name, used in error messages.
    min_rows: the smallest number of rows (samples) allowed.

  Returns:
    ``x`` as a float64 numpy array.

  Raises:
    ValueError: if ``x`` is not 2-D, has no feature columns, has fewer than
      ``min_rows`` rows, or holds NaN or infinite values.
  """
  arr = np.asarray(x, dtype=np.float64)
  if arr.ndim != 2:
    raise ValueError(f"{name} must be a 2-D array [num_samples, dim], got shape {arr.shape}")
  if arr.shape[1] < 1:
    raise ValueError(f"{name} must have at least one feature column, got shape {arr.shape}")
  if arr.shape[0] < min_rows:
    raise ValueError(
        f"{name} needs at least {min_rows} samples (rows), got {arr.shape[0]}")
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{name} contains NaN or infinite values; only finite values are allowed")
  return arr


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
  """Raises ValueError unless two [N, D] arrays have the same D."""
  if a.shape[1] != b.shape[1]:
    raise ValueError(
        f"{name_a} and {name_b} must have the same feature dimension, got "
        f"{a.shape[1]} and {b.shape[1]}")


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
  """Returns ``value`` as an int, raising ValueError unless it is >= minimum."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
  if value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
  return int(value)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Squared Euclidean distances between the rows of a [M, D] and b [N, D].

  Uses ||a||^2 + ||b||^2 - 2 a.b (one matrix product), clamped at zero to undo
  the rounding that can make a distance of (almost) zero slightly negative.

  Args:
    a: float64 array [M, D].
    b: float64 array [N, D].

  Returns:
    float64 array [M, N].
  """
  if np.shares_memory(a, b):
    # numpy computes X @ X.T with a different BLAS routine (syrk) than a
    # general product; copying keeps every distance bit-identical however the
    # rows are batched, so boundary comparisons (d <= radius) are consistent.
    a = a.copy()
  sq = (np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :]
        - 2.0 * (a @ b.T))
  return np.maximum(sq, 0.0)


def row_batches(num_rows: int, batch_size: int):
  """Yields ``slice`` objects covering range(num_rows) in chunks of batch_size."""
  for start in range(0, num_rows, batch_size):
    yield slice(start, min(start + batch_size, num_rows))


def kth_neighbour_sq_radii(feats: np.ndarray, k: int, batch_size: int) -> np.ndarray:
  """Squared distance from each row of ``feats`` to its k-th nearest other row.

  The distance matrix is built ``batch_size`` rows at a time, so memory is
  O(batch_size * N) rather than O(N^2). The point itself (distance 0) is in
  its own row, so the k-th neighbour excluding itself is the entry at sorted
  position k (0-based), even if there are duplicate points.

  Args:
    feats: float64 array [N, D] with N >= k + 1.
    k: neighbour rank, k >= 1.
    batch_size: rows of the distance matrix held in memory at once.

  Returns:
    float64 array [N] of squared radii.
  """
  radii = np.empty(feats.shape[0], dtype=np.float64)
  for rows in row_batches(feats.shape[0], batch_size):
    d2 = squared_distances(feats[rows], feats)
    # Each point's distance to itself is exactly 0 (the expansion can leave a
    # rounding residue there).
    d2[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
    radii[rows] = np.partition(d2, k, axis=1)[:, k]
  return radii
