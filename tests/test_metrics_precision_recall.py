"""Tests for k-NN precision/recall and density/coverage against brute force."""

import tracemalloc

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import metrics


def _dists(a, b):
  return np.sqrt(np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1))


def _knn_radii(x, k):
  # Column 0 of each sorted row is the point itself (distance 0).
  return np.sort(_dists(x, x), axis=1)[:, k]


def _reference_precision_recall(real, fake, k):
  """Kynkaanniemi et al. 2019, eqs. (1)-(3), with full distance matrices."""
  r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
  d = _dists(fake, real)  # [M, N]
  precision = np.mean([np.any(d[j] <= r_real) for j in range(len(fake))])
  recall = np.mean([np.any(d[:, i] <= r_fake) for i in range(len(real))])
  return precision, recall


def _reference_density_coverage(real, fake, k):
  """Naeem et al. 2020, density and coverage, with full distance matrices."""
  radii = _knn_radii(real, k)
  d = _dists(real, fake)  # [N, M]
  density = sum(np.sum(d[i] < radii[i]) for i in range(len(real))) / (k * len(fake))
  coverage = np.mean([np.min(d[i]) < radii[i] for i in range(len(real))])
  return density, coverage


def _data(seed, n=150, m=130, d=6, shift=0.7):
  rng = np.random.default_rng(seed)
  real = rng.normal(size=(n, d))
  fake = rng.normal(size=(m, d)) * 1.2 + shift
  return real, fake


@pytest.mark.parametrize("k,batch_size", [(3, 1024), (3, 7), (5, 64)])
def test_precision_recall_matches_brute_force(k, batch_size):
  real, fake = _data(k)
  out = metrics.precision_recall(real, fake, k=k, batch_size=batch_size)
  precision, recall = _reference_precision_recall(real, fake, k)
  assert 0.05 < precision < 0.95 and 0.05 < recall < 0.95  # Not trivial values.
  assert out["precision"] == pytest.approx(precision, abs=1e-12)
  assert out["recall"] == pytest.approx(recall, abs=1e-12)


@pytest.mark.parametrize("k,batch_size", [(5, 1024), (5, 9), (2, 50)])
def test_density_coverage_matches_brute_force(k, batch_size):
  real, fake = _data(10 + k)
  out = metrics.density_coverage(real, fake, k=k, batch_size=batch_size)
  density, coverage = _reference_density_coverage(real, fake, k)
  assert 0.05 < density and 0.05 < coverage < 0.95
  assert out["density"] == pytest.approx(density, abs=1e-12)
  assert out["coverage"] == pytest.approx(coverage, abs=1e-12)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("batch_size", [1024, 13])
def test_identical_sets(copy, batch_size):
  real, _ = _data(20)
  fake = real.copy() if copy else real
  pr = metrics.precision_recall(real, fake, batch_size=batch_size)
  dc = metrics.density_coverage(real, fake, batch_size=batch_size)
  assert pr == {"precision": 1.0, "recall": 1.0}
  assert dc["coverage"] == 1.0
  # Each real ball holds its centre and its k - 1 nearest neighbours (strict <).
  assert dc["density"] == pytest.approx(1.0, abs=1e-12)


def test_boundary_conventions():
  # Integer points give exact distances. With k = 1 every ball has radius 1;
  # the fake point 5 lies exactly on the boundary of the real ball around 4.
  real = np.arange(5.0)[:, None]
  fake = np.array([[5.0], [6.0]])
  # Kynkaanniemi et al.: boundary counts as inside (<=).
  assert metrics.precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 0.2}
  # Naeem et al.: boundary counts as outside (<).
  assert metrics.density_coverage(real, fake, k=1) == {"density": 0.0, "coverage": 0.0}
  inside = np.array([[4.5], [6.0]])
  assert metrics.density_coverage(real, inside, k=1) == {"density": 0.5, "coverage": 0.2}


def test_disjoint_sets_score_zero():
  real, _ = _data(21)
  far = real + 100.0
  assert metrics.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
  assert metrics.density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}


def test_fidelity_and_diversity_are_separated():
  # Fakes collapsed onto a few real points: full precision, low recall.
  real, _ = _data(22)
  collapsed = np.repeat(real[:4], 10, axis=0) + 1e-3
  pr = metrics.precision_recall(real, collapsed)
  assert pr["precision"] == 1.0
  assert pr["recall"] < 0.2


def test_accepts_jax_arrays():
  real, fake = _data(23)
  expected = metrics.precision_recall(real.astype(np.float32), fake.astype(np.float32))
  assert metrics.precision_recall(jnp.asarray(real), jnp.asarray(fake)) == expected


def test_memory_is_bounded_by_batch_size():
  # The full 3000 x 3000 float64 distance matrix would take 72 MB.
  rng = np.random.default_rng(24)
  real, fake = rng.normal(size=(3000, 8)), rng.normal(size=(3000, 8))
  tracemalloc.start()
  try:
    metrics.precision_recall(real, fake, batch_size=100)
    metrics.density_coverage(real, fake, batch_size=100)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert peak < 24e6


@pytest.mark.parametrize("fn,real,fake,kwargs,match", [
    (metrics.precision_recall, np.zeros(10), np.zeros((10, 2)), {}, "2-D"),
    (metrics.precision_recall, np.ones((10, 3)), np.ones((10, 2)), {},
     "same feature dimension"),
    (metrics.precision_recall, np.ones((3, 2)), np.ones((10, 2)), {"k": 3}, "at least 4"),
    (metrics.precision_recall, np.ones((10, 2)), np.ones((3, 2)), {"k": 3}, "at least 4"),
    (metrics.precision_recall, np.ones((10, 2)), np.ones((10, 2)), {"k": 0}, "k must"),
    (metrics.precision_recall, np.ones((10, 2)), np.ones((10, 2)), {"batch_size": 0},
     "batch_size"),
    (metrics.density_coverage, np.ones((5, 2)), np.ones((10, 2)), {"k": 5}, "at least 6"),
    (metrics.density_coverage, np.ones((10, 2)), np.ones((0, 2)), {}, "at least 1"),
    (metrics.density_coverage, np.ones((10, 2)), np.ones((10, 2, 1)), {}, "2-D"),
])
def test_bad_inputs_raise(fn, real, fake, kwargs, match):
  with pytest.raises(ValueError, match=match):
    fn(real, fake, **kwargs)
