"""DiffAugment operations against numpy re-implementations of Zhao et al. 2020's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment
from gan_jax.train_step import example_keys

B, H, W, C = 5, 8, 8, 3


def _images(seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (B, H, W, C)).astype(np.float32)


def _draws(n, seed=0):
  return np.random.default_rng(seed + 100).uniform(0, 1, (B, n)).astype(np.float32)


def test_color_matches_numpy():
  x, u = _images(), _draws(3)
  y = x + (u[:, 0] - 0.5)[:, None, None, None]
  m = y.mean(axis=3, keepdims=True)
  y = (y - m) * (2 * u[:, 1])[:, None, None, None] + m
  m = y.mean(axis=(1, 2, 3), keepdims=True)
  y = (y - m) * (u[:, 2] + 0.5)[:, None, None, None] + m
  np.testing.assert_allclose(jax.jit(augment.color)(x, u), y, rtol=1e-5, atol=1e-5)


def test_translation_matches_numpy():
  x, u = _images(1), _draws(2, 1)
  dy, dx = map(np.asarray, augment.translation_shifts(jnp.asarray(u), H, W))
  assert np.all(np.abs(dy) <= 1) and np.all(np.abs(dx) <= 1)  # 1/8 of 8 pixels.
  expected = np.zeros_like(x)
  for b in range(B):
    for i in range(H):
      for j in range(W):
        if 0 <= i - dy[b] < H and 0 <= j - dx[b] < W:
          expected[b, i, j] = x[b, i - dy[b], j - dx[b]]
  np.testing.assert_array_equal(jax.jit(augment.translation)(x, u), expected)


def test_cutout_matches_numpy():
  x, u = _images(2), _draws(2, 2)
  top, left, sy, sx = augment.cutout_corners(jnp.asarray(u), H, W)
  expected = x.copy()
  for b in range(B):
    t, l = int(top[b]), int(left[b])
    expected[b, max(t, 0):max(t + sy, 0), max(l, 0):max(l + sx, 0)] = 0
  out = np.asarray(jax.jit(augment.cutout)(x, u))
  np.testing.assert_array_equal(out, expected)
  assert (out == 0).any()


def test_policy_is_differentiable_and_split_invariant():
  policy = augment.parse_policy("color, translation,cutout")
  x = jnp.asarray(_images(3))
  key = jax.random.PRNGKey(0)
  fn = jax.jit(lambda x, k: augment.diff_augment(x, k, policy))
  x = x[:4]  # Two equal halves: one compiled shape for both.
  whole = fn(x, example_keys(key, 4))
  parts = jnp.concatenate([fn(x[:2], example_keys(key, 2, 0)), fn(x[2:], example_keys(key, 2, 2))])
  np.testing.assert_allclose(whole, parts, rtol=1e-6, atol=1e-6)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(fn(x, example_keys(key, 2)))))(x[:2])
  assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
  np.testing.assert_array_equal(augment.diff_augment(x, example_keys(key, 4), ()), x)


@pytest.mark.parametrize("policy,message", [("color,blur", "unknown DiffAugment operation 'blur'"),
                                            ("color,color", "repeats an operation")])
def test_bad_policies(policy, message):
  with pytest.raises(ValueError, match=message):
    augment.parse_policy(policy)
  assert augment.parse_policy("") == ()
