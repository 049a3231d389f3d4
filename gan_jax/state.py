"""The training state: both players' TrainStates, their stats, the step and the PRNG key."""

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
    g: the generator's params (``{"params": ...}``) and optimizer state.
    d: the discriminator's params and optimizer state.
    game: the joint state of a game-aware optimizer (``gan_jax.games``), or
      ``()`` when each player has its own optax optimizer (then the optax
      states live in ``g`` and ``d``).
    g_stats: the generator's non-trainable flax collections, e.g.
      ``{"batch_stats": ...}`` (batch norm running averages), or ``{}``.
    d_stats: the discriminator's, e.g. ``{"spectral": ...}`` (spectral norm
      power-iteration vectors), or ``{}``.
    g_ema: an exponential moving average of ``g.params`` (same structure)
      when EMA is on, else ``()``. Samples and evaluation use it.
  """

  step: jax.Array
  rng: jax.Array
  g: train_state.TrainState
  d: train_state.TrainState
  game: Any = ()
  g_stats: Any = flax.struct.field(default_factory=dict)
  d_stats: Any = flax.struct.field(default_factory=dict)
  g_ema: Any = ()


def split_variables(variables: dict) -> tuple[dict, dict]:
  """A flax variables dict -> (``{"params": ...}``, the other collections)."""
  params = {k: v for k, v in variables.items() if k == "params"}
  return params, {k: v for k, v in variables.items() if k != "params"}


def create(*, rng: jax.Array, generator, discriminator, g_tx, d_tx, latent_dim: int,
           image_shape: tuple[int, ...], game: Optional[Any] = None, num_classes: int = 0,
           ema: bool = False, init_batch: int = 1) -> GANState:
  """Initialises both players from ``rng`` (a raw uint32[2] key).

  Args:
    rng: raw uint32[2] key.
    generator: linen module, ``(z[, labels]) -> images``.
    discriminator: linen module, ``(images[, labels]) -> logits``.
    g_tx: the generator's optax optimizer.
    d_tx: the discriminator's.
    latent_dim: size of z.
    image_shape: (H, W, C).
    game: an optional ``gan_jax.games.GameOptimizer`` that moves both players
      jointly; ``g_tx``/``d_tx`` are then unused by the step.
    num_classes: > 0 for class-conditional modules: both are initialised
      with a ``labels`` argument.
    ema: keep an exponential moving average of the generator's params.
    init_batch: size of the dummy batch both modules are initialised with
      (the parameters do not depend on it; a packed discriminator needs a
      multiple of its pack).

  Returns:
    The initial GANState.
  """
  g_key, d_key, train_key = jax.random.split(rng, 3)
  label_args = ({} if num_classes == 0 else
                {"labels": jnp.zeros((init_batch,), jnp.int32)})
  g_variables = generator.init(g_key, jnp.zeros((init_batch, latent_dim), jnp.float32),
                               **label_args)
  d_variables = discriminator.init(d_key, jnp.zeros((init_batch,) + tuple(image_shape),
                                                    jnp.float32),
                                   **label_args)
  g_params, g_stats = split_variables(g_variables)
  d_params, d_stats = split_variables(d_variables)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      rng=train_key,
      g=train_state.TrainState.create(apply_fn=generator.apply, params=g_params, tx=g_tx),
      d=train_state.TrainState.create(apply_fn=discriminator.apply, params=d_params, tx=d_tx),
      game=() if game is None else game.init(g_params, d_params),
      g_stats=g_stats,
      d_stats=d_stats,
      g_ema=jax.tree.map(jnp.array, g_params) if ema else (),
  )


def generator_variables(state: GANState) -> dict:
  """The generator's variables for sampling: EMA params when kept, and its stats."""
  params = state.g_ema if isinstance(state.g_ema, dict) else state.g.params
  return {**state.g_stats, **params}


def discriminator_variables(state: GANState) -> dict:
  """The discriminator's params and stats, one flax variables dict."""
  return {**state.d_stats, **state.d.params}


@flax.struct.dataclass
class Inference:
  """What sampling and evaluation read from a model family's state.

  Attributes:
    generator: the sampler's complete flax variables (``generator.apply(
      generator_vars, z)``): EMA params when kept, batch-norm averages.
    discriminator: the critic's complete variables (spectral-norm vectors
      included), or None for a family without one (the VAE).
    step: the state's step (the completed training steps).
    ema: whether ``generator`` holds weight-averaged params.
  """

  generator: dict
  discriminator: Optional[dict] = None
  step: Any = 0
  ema: bool = flax.struct.field(pytree_node=False, default=False)


def for_inference(state: GANState) -> Inference:
  """The GAN's inference view: the EMA generator when kept, D with its stats."""
  return Inference(generator=generator_variables(state),
                   discriminator=discriminator_variables(state), step=state.step,
                   ema=isinstance(state.g_ema, dict))


def params_sha256(state: GANState) -> str:
  """A hash of the generator's and discriminator's parameters.

  Covers every leaf's path, dtype, shape and bytes, so two runs share a hash
  exactly when their final parameters are bit-identical. Stats and the EMA
  copy are covered too when a run keeps them (they add nothing otherwise).
  """
  return named_trees_sha256((("g", state.g.params), ("d", state.d.params),
                             ("g_stats", state.g_stats), ("d_stats", state.d_stats),
                             ("g_ema", state.g_ema)))


def named_trees_sha256(named_trees) -> str:
  """SHA-256 over (name, pytree) pairs: every leaf's name and path, dtype, shape and bytes."""
  digest = hashlib.sha256()
  for name, tree in named_trees:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
      leaf = np.asarray(jax.device_get(leaf))
      digest.update(f"{name}{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape}".encode())
      digest.update(np.ascontiguousarray(leaf).tobytes())
  return digest.hexdigest()
