"""Tests for gan_jax.metrics.inception_score against an explicit-loop transcription."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import metrics


def _loop_inception_score(probs, num_splits):
  """Salimans et al. 2016: exp(E_x KL(p(y|x) || p(y))) per split, by loops."""
  n, c = probs.shape
  scores = []
  for s in range(num_splits):
    part = probs[s * n // num_splits:(s + 1) * n // num_splits]
    marginal = [sum(row[j] for row in part) / len(part) for j in range(c)]
    kls = []
    for row in part:
      kl = 0.0
      for j in range(c):
        if row[j] > 0.0:
          kl += row[j] * (math.log(row[j]) - math.log(marginal[j]))
      kls.append(kl)
    scores.append(math.exp(sum(kls) / len(kls)))
  return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("n,num_splits", [(200, 4), (203, 4), (57, 1)])
def test_matches_loop_reference(n, num_splits):
  rng = np.random.default_rng(n)
  probs = rng.dirichlet(np.full(10, 0.3), size=n)
  mean, std = metrics.inception_score(probs, num_splits=num_splits)
  ref_mean, ref_std = _loop_inception_score(probs, num_splits)
  assert ref_mean > 1.5  # Far from the trivial value 1.
  np.testing.assert_allclose(mean, ref_mean, rtol=1e-10)
  np.testing.assert_allclose(std, ref_std, rtol=1e-8, atol=1e-12)


def test_one_hot_uniform_predictions_give_num_classes():
  num_classes, num_splits = 7, 5
  # Every split holds each class 3 times.
  labels = np.tile(np.arange(num_classes), 3 * num_splits)
  probs = np.eye(num_classes)[labels]
  mean, std = metrics.inception_score(probs, num_splits=num_splits)
  np.testing.assert_allclose(mean, num_classes, rtol=1e-12)
  assert std < 1e-12


def test_identical_predictions_give_one():
  probs = np.tile(np.random.default_rng(0).dirichlet(np.ones(6)), (50, 1))
  mean, std = metrics.inception_score(probs, num_splits=5)
  np.testing.assert_allclose(mean, 1.0, atol=1e-12)
  assert std < 1e-12


def test_exact_zeros_take_no_log_of_zero():
  # Sparse rows (many exact zeros) must not produce log(0) or 0 * -inf.
  rng = np.random.default_rng(1)
  probs = rng.dirichlet(np.ones(10), size=40)
  probs[probs < 0.1] = 0.0
  probs /= probs.sum(axis=1, keepdims=True)
  with np.errstate(all="raise"):
    mean, _ = metrics.inception_score(probs, num_splits=2)
  np.testing.assert_allclose(mean, _loop_inception_score(probs, 2)[0], rtol=1e-10)


def test_accepts_float32_jax_softmax():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(60, 1000)).astype(np.float32) * 3.0
  probs = jnp.exp(logits) / jnp.sum(jnp.exp(logits), axis=1, keepdims=True)
  mean, _ = metrics.inception_score(probs, num_splits=3)
  ref, _ = _loop_inception_score(np.asarray(probs, dtype=np.float64), 3)
  np.testing.assert_allclose(mean, ref, rtol=1e-4)


@pytest.mark.parametrize("probs,num_splits,match", [
    (np.full(10, 0.1), 1, "2-D"),
    (np.random.default_rng(0).normal(size=(10, 4)), 1, "non-negative"),
    (np.full((10, 4), 0.3), 1, "sum to 1"),
    (np.full((10, 4), 0.25), 11, "num_splits"),
    (np.full((10, 4), 0.25), 0, "num_splits"),
])
def test_bad_inputs_raise(probs, num_splits, match):
  with pytest.raises(ValueError, match=match):
    metrics.inception_score(probs, num_splits=num_splits)
