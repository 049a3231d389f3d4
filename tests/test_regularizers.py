"""Gradient penalties against closed forms computed in numpy, under jax.jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import regularizers
from gan_jax.train_step import example_keys

B, SHAPE = 6, (3, 3, 2)


def _data(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(B,) + SHAPE).astype(np.float32),
          rng.normal(size=(B,) + SHAPE).astype(np.float32),
          example_keys(jax.random.PRNGKey(seed), B))


def _quadratic(x, labels=None):
  """f(x) = 1/2 ||x||^2 per example: grad f(x) = x."""
  return 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=-1)


def _linear(w):
  return lambda x, labels=None: jnp.sum((x * w).reshape(x.shape[0], -1), axis=-1)


def _eps(keys):
  return np.asarray(jax.vmap(lambda k: jax.random.uniform(k))(keys))


def _norms(x):
  return np.sqrt((x.reshape(len(x), -1).astype(np.float64) ** 2).sum(-1))


@pytest.mark.parametrize("name,one_sided", [("gp", False), ("gp_one_sided", True)])
def test_gradient_penalties(name, one_sided):
  real, fake, keys = _data()
  penalty = jax.jit(lambda r, f, k: regularizers.get(name)(_quadratic, r, f, k))
  eps = _eps(keys)[:, None, None, None]
  norms = _norms(eps * real + (1 - eps) * fake)
  excess = np.maximum(norms - 1, 0) if one_sided else norms - 1
  np.testing.assert_allclose(penalty(real, fake, keys), np.mean(excess ** 2), rtol=1e-5)
  # A linear critic has the same gradient everywhere: (||w|| - 1)^2, or 0 one-sided if ||w|| < 1.
  for scale in (2.0, 0.5):
    w = np.full(SHAPE, scale / np.sqrt(np.prod(SHAPE)), np.float32)
    value = regularizers.get(name)(_linear(w), real, fake, keys)
    expected = 0.0 if (one_sided and scale < 1) else (scale - 1) ** 2
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7)


def test_dragan_penalty():
  real, fake, keys = _data(1)
  noise = np.asarray(jax.vmap(lambda k: jax.random.uniform(k, SHAPE))(keys))
  alpha = _eps(jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))[:, None, None, None]
  std = real.reshape(B, -1).std(axis=1)[:, None, None, None]
  points = real + alpha * 0.5 * std * noise
  penalty = jax.jit(lambda r, f, k: regularizers.dragan_penalty(_quadratic, r, f, k))
  value = penalty(real, fake, keys)
  np.testing.assert_allclose(value, np.mean((_norms(points) - 1) ** 2), rtol=1e-5)


@pytest.mark.parametrize("name,on", [("r1", "real"), ("r2", "fake")])
def test_r1_r2(name, on):
  real, fake, keys = _data(2)
  value = jax.jit(lambda r, f, k: regularizers.get(name)(_quadratic, r, f, k))(real, fake, keys)
  x = real if on == "real" else fake
  np.testing.assert_allclose(value, 0.5 * np.mean(_norms(x) ** 2), rtol=1e-5)


def test_conditional_critic_gets_the_labels():
  real, fake, keys = _data(3)
  labels = jnp.arange(B) % 3
  critic = lambda x, y: jnp.sum(x.reshape(B, -1), axis=-1) * (y + 1.0)  # grad = (y + 1) * ones
  size = np.prod(SHAPE)
  expected_r1 = 0.5 * np.mean((np.arange(B) % 3 + 1.0) ** 2 * size)
  np.testing.assert_allclose(regularizers.r1_penalty(critic, real, fake, keys, labels, None),
                             expected_r1, rtol=1e-5)
  np.testing.assert_allclose(regularizers.r2_penalty(critic, real, fake, keys, None, labels),
                             expected_r1, rtol=1e-5)


def test_draws_do_not_depend_on_how_the_batch_is_split():
  real, fake, _ = _data(4)
  key = jax.random.PRNGKey(9)
  whole = regularizers.gradient_penalty(_quadratic, real, fake, example_keys(key, B))
  halves = [regularizers.gradient_penalty(_quadratic, real[i:i + 3], fake[i:i + 3],
                                          example_keys(key, 3, i)) for i in (0, 3)]
  np.testing.assert_allclose(whole, np.mean(halves), rtol=1e-6)


def test_registry_and_errors():
  assert regularizers.names() == ["dragan", "gp", "gp_one_sided", "r1", "r2"]
  with pytest.raises(ValueError, match="unknown regularizer 'nope'"):
    regularizers.get("nope")
  real, fake, keys = _data()
  with pytest.raises(ValueError, match="same shape"):
    regularizers.gradient_penalty(_quadratic, real, fake[:3], keys)
