"""k-nearest-neighbour manifold metrics: precision/recall and density/coverage.

Both pairs estimate the support of a distribution by the union of balls
around its samples, each ball's radius being the distance from the sample to
its k-th nearest neighbour within the same set (the sample itself excluded).

* Precision: fraction of generated samples inside the real manifold
  (fidelity). Recall: fraction of real samples inside the generated manifold
  (diversity). Kynkaanniemi et al. 2019, eqs. (1)-(3).
* Density: the average number of real balls a generated sample falls in,
  divided by k (about 1 when the two distributions match; can exceed 1).
  Coverage: fraction of real samples whose ball contains at least one
  generated sample. Naeem et al. 2020, section 3. They use only the real
  manifold, which makes them more robust to outliers among generated samples.

Distances are computed ``batch_size`` rows at a time in float64, so memory is
O(batch_size * N): 10k x 10k sets need ~80 MB per batch of 1024 rows instead
of 800 MB for the full matrix.

Boundaries follow each paper's reference code: a point on a ball's boundary
is inside for precision/recall (``<=``) and outside for density/coverage
(``<``). With the strict rule, density is exactly 1 when the generated set
equals the real set and no two distances tie (each real ball then holds its
centre and its k - 1 nearest other real points).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_jax.metrics import _checks

_DEFAULT_BATCH = 1024


def _in_balls(ref: np.ndarray, ref_sq_radii: np.ndarray, query: np.ndarray,
              batch_size: int, strict: bool):
  """Yields (rows, inside): inside[i, j] = query j lies in the ball of ref row i.

  Blocks run over ``ref`` rows with the same batching as
  ``kth_neighbour_sq_radii``, so a distance compared with a radius is computed
  by the same matrix-product shapes as the radius itself: when the query set
  equals the reference set, a point's k-th neighbour gets exactly the radius
  value and the boundary test is decided consistently.
  """
  for rows in _checks.row_batches(ref.shape[0], batch_size):
    d2 = _checks.squared_distances(ref[rows], query)
    radii = ref_sq_radii[rows, None]
    yield rows, (d2 < radii) if strict else (d2 <= radii)


def _fraction_inside(ref: np.ndarray, ref_sq_radii: np.ndarray, query: np.ndarray,
                     batch_size: int) -> float:
  """Fraction of ``query`` rows within (<=) the radius of at least one ``ref`` row."""
  inside_any = np.zeros(query.shape[0], dtype=bool)
  for _, inside in _in_balls(ref, ref_sq_radii, query, batch_size, strict=False):
    inside_any |= np.any(inside, axis=0)
  return float(np.mean(inside_any))


def precision_recall(real_feats: Any, fake_feats: Any, k: int = 3, *,
                     batch_size: int = _DEFAULT_BATCH) -> dict[str, float]:
  """Improved precision and recall of generated samples.

  A sample is inside a manifold if it lies within the k-NN radius of at least
  one of the manifold's reference points. Precision uses the real manifold and
  queries the generated samples; recall swaps the roles.

  Args:
    real_feats: features [N, D] of real samples, N >= k + 1.
    fake_feats: features [M, D] of generated samples, M >= k + 1.
    k: neighbour rank that sets each ball's radius (paper default 3).
    batch_size: rows of the distance matrix held in memory at once.

  Returns:
    ``{"precision": float, "recall": float}``, both in [0, 1].

  Raises:
    ValueError: if an input is not 2-D or not finite, the feature dimensions
      differ, a set has fewer than k + 1 samples, or k or batch_size < 1.

  References:
    Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for
    Assessing Generative Models", eqs. (1)-(3).
  """
  k = _checks.check_positive_int(k, "k")
  batch_size = _checks.check_positive_int(batch_size, "batch_size")
  real = _checks.as_matrix(real_feats, "real_feats", min_rows=k + 1)
  fake = _checks.as_matrix(fake_feats, "fake_feats", min_rows=k + 1)
  _checks.check_same_dim(real, fake, "real_feats", "fake_feats")
  real_radii = _checks.kth_neighbour_sq_radii(real, k, batch_size)
  fake_radii = _checks.kth_neighbour_sq_radii(fake, k, batch_size)
  return {
      "precision": _fraction_inside(real, real_radii, fake, batch_size),
      "recall": _fraction_inside(fake, fake_radii, real, batch_size),
  }


def density_coverage(real_feats: Any, fake_feats: Any, k: int = 5, *,
                     batch_size: int = _DEFAULT_BATCH) -> dict[str, float]:
  """Density and coverage of generated samples with respect to the real manifold.

  With real samples X_1..X_N, generated samples Y_1..Y_M, and B(X_i) the ball
  around X_i of radius NND_k(X_i) (distance to its k-th nearest real
  neighbour):

      density  = 1 / (k M) sum_j sum_i 1[Y_j in B(X_i)]
      coverage = 1 / N sum_i 1[exists j: Y_j in B(X_i)]

  Args:
    real_feats: features [N, D] of real samples, N >= k + 1.
    fake_feats: features [M, D] of generated samples, M >= 1.
    k: neighbour rank that sets each ball's radius (paper default 5).
    batch_size: rows of the distance matrix held in memory at once.

  Returns:
    ``{"density": float, "coverage": float}``; density is >= 0 and unbounded
    above, coverage is in [0, 1].

  Raises:
    ValueError: if an input is not 2-D or not finite, the feature dimensions
      differ, there are fewer than k + 1 real or no generated samples, or k or
      batch_size < 1.

  References:
    Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
    Models", section 3, eqs. for density and coverage.
  """
  k = _checks.check_positive_int(k, "k")
  batch_size = _checks.check_positive_int(batch_size, "batch_size")
  real = _checks.as_matrix(real_feats, "real_feats", min_rows=k + 1)
  fake = _checks.as_matrix(fake_feats, "fake_feats", min_rows=1)
  _checks.check_same_dim(real, fake, "real_feats", "fake_feats")
  real_radii = _checks.kth_neighbour_sq_radii(real, k, batch_size)
  memberships = 0
  covered = np.zeros(real.shape[0], dtype=bool)
  for rows, inside in _in_balls(real, real_radii, fake, batch_size, strict=True):
    memberships += int(np.count_nonzero(inside))
    covered[rows] = np.any(inside, axis=1)
  return {
      "density": memberships / (k * fake.shape[0]),
      "coverage": float(np.mean(covered)),
  }
