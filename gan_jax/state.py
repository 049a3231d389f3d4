"""The training state: both players' TrainStates, the step and the PRNG key."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax.training import train_state


@flax.struct.dataclass
class GANState:
  """Everything a training step reads and writes, as one pytree.

  Attributes:
    step: int32 scalar, the number of completed generator steps.
    rng: the run's base PRNG key (raw uint32[2]); it never changes. Each step
      derives its own keys with ``fold_in(rng, step)``, so no key is reused
      and a resumed run draws exactly what an uninterrupted one would.
    g: the generator's params and optimizer state.
    d: the discriminator's params and optimizer state.
    game: the joint state of a game-aware optimizer (``gan_jax.games``), or
      ``()`` when each player has its own optax optimizer (then the optax
      states live in ``g`` and ``d``).
  """

  step: jax.Array
  rng: jax.Array
  g: train_state.TrainState
  d: train_state.TrainState
  game: Any = ()


def create(*, rng: jax.Array, generator, discriminator, g_tx, d_tx, latent_dim: int,
           image_shape: tuple[int, ...], game: Optional[Any] = None) -> GANState:
  """Initialises both players from ``rng`` (a raw uint32[2] key).

  ``game`` is an optional ``gan_jax.games.GameOptimizer`` that moves both
  players jointly; ``g_tx``/``d_tx`` are then unused by the step.
  """
  g_key, d_key, train_key = jax.random.split(rng, 3)
  g_params = generator.init(g_key, jnp.zeros((1, latent_dim), jnp.float32))
  d_params = discriminator.init(d_key, jnp.zeros((1,) + tuple(image_shape), jnp.float32))
  return GANState(
      step=jnp.zeros((), jnp.int32),
      rng=train_key,
      g=train_state.TrainState.create(apply_fn=generator.apply, params=g_params, tx=g_tx),
      d=train_state.TrainState.create(apply_fn=discriminator.apply, params=d_params, tx=d_tx),
      game=() if game is None else game.init(g_params, d_params),
  )


def params_sha256(state: GANState) -> str:
  """A hash of the generator's and discriminator's parameters.

  Covers every leaf's path, dtype, shape and bytes, so two runs share a hash
  exactly when their final parameters are bit-identical.
  """
  digest = hashlib.sha256()
  for name, params in (("g", state.g.params), ("d", state.d.params)):
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
      leaf = np.asarray(jax.device_get(leaf))
      digest.update(f"{name}{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape}".encode())
      digest.update(np.ascontiguousarray(leaf).tobytes())
  return digest.hexdigest()
