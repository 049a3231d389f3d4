"""DiffAugment: differentiable augmentations applied to every image D sees.

The train step augments real and generated images alike, with the same
policy and independent random draws, inside the jitted step; the generator's
gradient flows through the augmentation. A policy is a comma-separated list
of operations (``config.diffaugment``, e.g. ``"color,translation,cutout"``),
applied in the order given:

- ``color``: random brightness, saturation and contrast.
- ``translation``: a random integer shift of up to 1/8 of the image size in
  each direction, zero-filled.
- ``cutout``: zero a random square of half the image size.

Every draw comes from a per-example PRNG key (one key per row of the global
batch), so augmentation does not depend on how the batch is split over
devices. Operations are reached by name through one registry; a user adds one
with ``register(name, apply, num_draws=K)`` (or ``@register(name,
num_draws=K)``), ``apply(images, u)`` taking the K U[0, 1) numbers per image
in ``u`` [B, K].

References:
  Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training", section 3 and their reference implementation's settings.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from gan_jax.registry import Registry

_TRANSLATION_RATIO = 0.125
_CUTOUT_RATIO = 0.5


class Operation(NamedTuple):
  """An augmentation ``apply(images, u)`` that consumes ``num_draws`` U[0, 1) numbers per image.

  ``u`` is [B, num_draws], drawn by ``draws``.
  """

  apply: Callable[[chex.Array, chex.Array], chex.Array]
  num_draws: int


def _per_example(values: chex.Array) -> chex.Array:
  return values[:, None, None, None]


def _uniform_int(u: chex.Array, low: int, high: int) -> chex.Array:
  """U[0, 1) -> a uniform integer in [low, high), int32."""
  return low + jnp.minimum(jnp.floor(u * (high - low)), high - low - 1).astype(jnp.int32)


def color(images: chex.Array, u: chex.Array) -> chex.Array:
  """Brightness + U[-0.5, 0.5), saturation x U[0, 2), contrast x U[0.5, 1.5).

  Args:
    images: [B, H, W, C] in [-1, 1].
    u: [B, 3] U[0, 1) draws.

  Returns:
    Augmented images, same shape (not clipped).
  """
  x = images + _per_example(u[:, 0] - 0.5)
  channel_mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - channel_mean) * _per_example(2.0 * u[:, 1]) + channel_mean
  image_mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - image_mean) * _per_example(u[:, 2] + 0.5) + image_mean


def _shift_matrices(shifts: chex.Array, size: int, dtype) -> chex.Array:
  """[B, size, size] one-hot matrices S with (S v)[i] = v[i - shift], 0 past the border."""
  rows = jnp.arange(size)
  return (rows[None, None, :] == rows[None, :, None] - shifts[:, None, None]).astype(dtype)


def translation_shifts(u: chex.Array, height: int, width: int) -> tuple[chex.Array, chex.Array]:
  """The (dy, dx) integer shifts, each in [-1/8 size, 1/8 size], of draws u [B, 2]."""
  max_dy = int(height * _TRANSLATION_RATIO + 0.5)
  max_dx = int(width * _TRANSLATION_RATIO + 0.5)
  return _uniform_int(u[:, 0], -max_dy, max_dy + 1), _uniform_int(u[:, 1], -max_dx, max_dx + 1)


def translation(images: chex.Array, u: chex.Array) -> chex.Array:
  """Shifts each image by up to 1/8 of its height and width, zero-filled.

  The shift is two one-hot matrix products (rows, then columns), which
  compile and differentiate faster than a per-pixel gather.

  Args:
    images: [B, H, W, C].
    u: [B, 2] U[0, 1) draws.

  Returns:
    Shifted images, same shape: out[i, j] = images[i - dy, j - dx].
  """
  height, width = images.shape[1:3]
  dy, dx = translation_shifts(u, height, width)
  rows = _shift_matrices(dy, height, images.dtype)
  cols = _shift_matrices(dx, width, images.dtype)
  return jnp.einsum("bik,bklc,bjl->bijc", rows, images, cols)


def cutout_corners(u: chex.Array, height: int, width: int):
  """Top-left corners (may lie outside) and the size of the cut squares, from u [B, 2]."""
  size_y = int(height * _CUTOUT_RATIO + 0.5)
  size_x = int(width * _CUTOUT_RATIO + 0.5)
  top = _uniform_int(u[:, 0], 0, height + (1 - size_y % 2)) - size_y // 2
  left = _uniform_int(u[:, 1], 0, width + (1 - size_x % 2)) - size_x // 2
  return top, left, size_y, size_x


def cutout(images: chex.Array, u: chex.Array) -> chex.Array:
  """Zeroes one square of half the image size at a random centre per image.

  Args:
    images: [B, H, W, C].
    u: [B, 2] U[0, 1) draws.

  Returns:
    Images with the square (clipped at the border) set to 0.
  """
  height, width = images.shape[1:3]
  top, left, size_y, size_x = cutout_corners(u, height, width)
  rows, cols = jnp.arange(height), jnp.arange(width)
  in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + size_y)
  in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + size_x)
  keep = 1.0 - (in_rows[:, :, None] & in_cols[:, None, :]).astype(images.dtype)
  return images * keep[..., None]


_REGISTRY: Registry[Operation] = Registry("DiffAugment operation")


def register(name: str, apply: Optional[Callable[[chex.Array, chex.Array], chex.Array]] = None,
             *, num_draws: int, overwrite: bool = False):
  """Adds the operation ``apply(images, u)`` under ``name``; without ``apply``, a decorator.

  Args:
    name: its name in a policy (``config.diffaugment``); no commas or edge spaces.
    apply: images [B, H, W, C] and u [B, num_draws] in [0, 1) -> images.
    num_draws: how many U[0, 1) numbers it consumes per image (>= 0).
    overwrite: replace an existing operation.

  Returns:
    ``apply`` (or the decorator).
  """
  if isinstance(name, str) and ("," in name or name != name.strip()):
    raise ValueError(f"DiffAugment operation name {name!r} may not hold a comma or start or "
                     "end with a space")
  if not isinstance(num_draws, int) or isinstance(num_draws, bool) or num_draws < 0:
    raise ValueError(f"num_draws must be an integer >= 0, got {num_draws!r}")

  def add(fn):
    _REGISTRY.register(name, Operation(fn, num_draws), overwrite=overwrite)
    return fn
  return add if apply is None else add(apply)


def names() -> list[str]:
  """The registered operation names, sorted."""
  return _REGISTRY.names()


register("color", color, num_draws=3)
register("translation", translation, num_draws=2)
register("cutout", cutout, num_draws=2)


def parse_policy(policy: str) -> tuple[str, ...]:
  """``"color,translation"`` -> ``("color", "translation")``; ``""`` -> ``()``.

  Raises:
    ValueError: an unknown or repeated operation.
  """
  ops = tuple(op.strip() for op in policy.split(",") if op.strip())
  unknown = [op for op in ops if op not in _REGISTRY]
  if unknown:
    raise ValueError(_REGISTRY.unknown_message(unknown[0]))
  if len(set(ops)) != len(ops):
    raise ValueError(f"DiffAugment policy {policy!r} repeats an operation")
  return ops


def draws(keys: chex.Array, policy: tuple[str, ...]) -> chex.Array:
  """The U[0, 1) numbers a policy consumes, [B, total draws].

  Draw j of example i is the scalar ``uniform(fold_in(keys[i], j))``: every
  random call then has the same shape ([B]), which XLA compiles once.
  """
  total = sum(_REGISTRY.get(op).num_draws for op in policy)
  scalar = lambda j: jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, j)))(keys)
  return jnp.stack([scalar(j) for j in range(total)], axis=1)


def diff_augment(images: chex.Array, keys: chex.Array, policy: tuple[str, ...]) -> chex.Array:
  """Applies the operations of ``policy`` in order, each with its own draws.

  Args:
    images: [B, H, W, C] float images.
    keys: [B] PRNG keys, one per example.
    policy: operation names, from ``parse_policy``.

  Returns:
    Augmented images, same shape; differentiable in ``images``.
  """
  if not policy:
    return images
  u = draws(keys, policy)
  start = 0
  for op in policy:
    operation = _REGISTRY.get(op)
    images = operation.apply(images, u[:, start:start + operation.num_draws])
    start += operation.num_draws
  return images
