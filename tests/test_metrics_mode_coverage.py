"""Tests for the mixture / Stacked MNIST mode metrics against loop references."""

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import metrics


def _loop_kl_to_uniform(counts):
  total = sum(counts)
  kl = 0.0
  for c in counts:
    if c > 0:  # 0 log 0 = 0: empty modes contribute nothing.
      p = c / total
      kl += p * math.log(p * len(counts))
  return kl


def _loop_mode_stats(samples, modes, std):
  """VEEGAN / PacGAN conventions, one sample at a time."""
  counts = [0] * len(modes)
  num_hq = 0
  for x in samples:
    dists = [math.dist(x, m) for m in modes]
    nearest = int(np.argmin(dists))
    if dists[nearest] <= 3.0 * std:
      num_hq += 1
      counts[nearest] += 1
  return {
      "modes": sum(c > 0 for c in counts),
      "high_quality": num_hq / len(samples),
      "reverse_kl": _loop_kl_to_uniform(counts) if num_hq else float("nan"),
  }


def test_ring_modes_geometry():
  modes = metrics.ring_modes(8, radius=2.0)
  assert modes.shape == (8, 2)
  np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 2.0, rtol=1e-12)
  np.testing.assert_allclose(modes[0], [2.0, 0.0], atol=1e-12)
  angles = np.sort(np.mod(np.arctan2(modes[:, 1], modes[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8, rtol=1e-12)


def test_grid_modes_are_the_25_point_grid():
  modes = metrics.grid_modes()
  expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
  assert modes.shape == (25, 2)
  assert {tuple(m) for m in modes.tolist()} == expected


def test_samples_at_every_grid_mode():
  modes = metrics.grid_modes()
  stats = metrics.mixture_mode_stats(np.repeat(modes, 4, axis=0), modes, std=0.05)
  assert stats["modes"] == 25
  assert stats["high_quality"] == 1.0
  assert stats["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_collapse_onto_one_mode():
  modes = metrics.grid_modes()
  samples = np.tile(modes[7], (50, 1)) + 0.01
  stats = metrics.mixture_mode_stats(samples, modes, std=0.05)
  assert stats["modes"] == 1
  assert stats["high_quality"] == 1.0
  assert stats["reverse_kl"] == pytest.approx(math.log(25), rel=1e-12)


def test_far_away_samples_are_not_high_quality():
  modes = metrics.ring_modes()
  stats = metrics.mixture_mode_stats(np.full((20, 2), 50.0), modes, std=0.02)
  assert stats["modes"] == 0
  assert stats["high_quality"] == 0.0
  assert math.isnan(stats["reverse_kl"])


def test_three_std_threshold():
  modes = np.zeros((1, 2))
  samples = np.array([[2.9, 0.0], [0.0, 3.1]])
  stats = metrics.mixture_mode_stats(samples, modes, std=1.0)
  assert stats["high_quality"] == 0.5


@pytest.mark.parametrize("modes,std", [(metrics.grid_modes(), 0.05),
                                       (metrics.ring_modes(), 0.02)])
def test_matches_loop_reference_on_partial_coverage(modes, std):
  rng = np.random.default_rng(0)
  # A generator that covers a random subset of modes unevenly, with outliers.
  chosen = rng.choice(len(modes), size=len(modes) // 2, replace=False)
  assignment = rng.choice(chosen, size=400, p=rng.dirichlet(np.ones(len(chosen))))
  samples = modes[assignment] + rng.normal(size=(400, 2)) * std * 1.5
  samples[:40] = rng.uniform(-6.0, 6.0, size=(40, 2))
  stats = metrics.mixture_mode_stats(samples, modes, std)
  ref = _loop_mode_stats(samples, modes, std)
  assert 0 < ref["modes"] < len(modes) and 0.0 < ref["high_quality"] < 1.0
  assert stats["modes"] == ref["modes"]
  assert stats["high_quality"] == pytest.approx(ref["high_quality"], abs=1e-12)
  assert stats["reverse_kl"] == pytest.approx(ref["reverse_kl"], rel=1e-10)


def test_accepts_jax_arrays():
  modes = metrics.grid_modes()
  stats = metrics.mixture_mode_stats(jnp.asarray(modes[:3]), jnp.asarray(modes), 0.05)
  assert stats["modes"] == 3
  assert stats["reverse_kl"] == pytest.approx(math.log(25 / 3), rel=1e-6)


def test_class_histogram_kl():
  rng = np.random.default_rng(1)
  uniform = metrics.class_histogram_kl(np.arange(10).repeat(3), 10)
  assert uniform == pytest.approx(0.0, abs=1e-12)
  collapsed = metrics.class_histogram_kl(np.full(17, 4), 10)
  assert collapsed == pytest.approx(math.log(10), rel=1e-12)
  labels = rng.integers(0, 6, size=300)  # 4 of 10 classes never occur.
  expected = _loop_kl_to_uniform([int(np.sum(labels == c)) for c in range(10)])
  assert metrics.class_histogram_kl(labels, 10) == pytest.approx(expected, rel=1e-12)


def test_stacked_mnist_modes():
  all_combos = np.array(list(itertools.product(range(10), repeat=3)))
  out = metrics.stacked_mnist_modes(all_combos)
  assert out["modes"] == 1000
  assert out["kl"] == pytest.approx(0.0, abs=1e-12)

  collapsed = metrics.stacked_mnist_modes(np.tile([3, 1, 4], (20, 1)))
  assert collapsed["modes"] == 1
  assert collapsed["kl"] == pytest.approx(math.log(1000), rel=1e-12)

  rng = np.random.default_rng(2)
  digits = rng.integers(0, 10, size=(1500, 3))
  digits[:, 0] = np.minimum(digits[:, 0], 4)  # Only half the modes reachable.
  counts = {}
  for row in digits.tolist():
    counts[tuple(row)] = counts.get(tuple(row), 0) + 1
  expected_kl = _loop_kl_to_uniform(list(counts.values()) + [0] * (1000 - len(counts)))
  out = metrics.stacked_mnist_modes(digits)
  assert out["modes"] == len(counts)
  assert out["kl"] == pytest.approx(expected_kl, rel=1e-12)
  # Narrow integer dtypes (e.g. uint8 argmax outputs) give the same modes.
  assert metrics.stacked_mnist_modes(digits.astype(np.uint8)) == out


@pytest.mark.parametrize("fn,args,match", [
    (metrics.mixture_mode_stats, (np.zeros(2), metrics.grid_modes(), 0.1), "2-D"),
    (metrics.mixture_mode_stats, (np.zeros((4, 3)), metrics.grid_modes(), 0.1),
     "same feature dimension"),
    (metrics.mixture_mode_stats, (np.zeros((4, 2)), metrics.grid_modes(), 0.0), "std"),
    (metrics.mixture_mode_stats, (np.zeros((0, 2)), metrics.grid_modes(), 0.1), "at least 1"),
    (metrics.class_histogram_kl, (np.array([0, 1, 10]), 10), r"\[0, 10\)"),
    (metrics.class_histogram_kl, (np.array([-1, 1]), 10), r"\[0, 10\)"),
    (metrics.class_histogram_kl, (np.array([0.0, 1.0]), 10), "integers"),
    (metrics.class_histogram_kl, (np.zeros((2, 2), dtype=int), 10), "1-D"),
    (metrics.class_histogram_kl, (np.array([0, 1]), 0), "num_classes"),
    (metrics.stacked_mnist_modes, (np.zeros((5, 2), dtype=int),), r"\[N, 3\]"),
    (metrics.stacked_mnist_modes, (np.full((5, 3), 10),), "0..9"),
    (metrics.stacked_mnist_modes, (np.zeros((5, 3)),), "integers"),
    (metrics.ring_modes, (0,), "num_modes"),
    (metrics.grid_modes, (0,), "side"),
])
def test_bad_inputs_raise(fn, args, match):
  with pytest.raises(ValueError, match=match):
    fn(*args)
