"""The pure GAN update and its compiled single- and multi-device forms.

``make_train_step`` returns ``train_step(state, batch) -> (state, metrics)``:
``d_steps`` discriminator updates (one per slice of ``batch["image"]``, shape
[d_steps, B, H, W, C] in [-1, 1]) then one generator update. With an
``axis_name`` it is the per-device body of a ``jax.pmap``: gradients and
metrics are averaged across devices with ``lax.pmean``.

``make_train_loop`` fuses ``steps_per_call`` steps into one ``lax.scan`` that
also draws the batches from a data set held on the device, so the Python loop
runs once per call, not once per step. ``compile_train_loop`` jit- or
pmap-compiles it with the state donated.

Randomness: step ``s`` uses ``k = fold_in(state.rng, s)`` for its latents and
``fold_in(data_key, s)`` for its batch indices. Latent ``j`` of the *global*
batch comes from ``fold_in(k_phase, j)``; a device draws the latents of its
own slice of the global batch (its offset is ``axis_index * local_batch``).
So every device gets different noise, and a run on 1, 2 or 4 devices draws
the same numbers and takes the same steps up to float reduction order.
"""

from __future__ import annotations

from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import losses as losses_lib
from gan_jax.data import to_float
from gan_jax.games import GameOptimizer
from gan_jax.state import GANState

Batch = dict
Metrics = dict
TrainStep = Callable[[GANState, Batch], tuple[GANState, Metrics]]

# fold_in tags that keep the per-step key's uses apart.
_D_NOISE, _G_NOISE = 0, 1


def latents(key: jax.Array, batch_size: int, latent_dim: int, offset=0) -> jax.Array:
  """Standard normal latents for global batch rows offset..offset+batch_size."""
  rows = offset + jnp.arange(batch_size)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)
  return jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)


def _batch_offset(axis_name: Optional[str], local_batch: int):
  return 0 if axis_name is None else jax.lax.axis_index(axis_name) * local_batch


def make_train_step(*, generator: nn.Module, discriminator: nn.Module, loss: losses_lib.GANLoss,
                    latent_dim: int, axis_name: Optional[str] = None,
                    game: Optional[GameOptimizer] = None) -> TrainStep:
  """Builds the pure GAN update.

  Without ``game``: the alternating update, ``d_steps`` discriminator steps
  then one generator step, each player with its own optax optimizer. With a
  ``game`` optimizer (``gan_jax.games``): one joint step of both players on
  the game (loss_x = g_loss, loss_y = d_loss), which needs ``d_steps == 1``.

  Args:
    generator: linen module, latents [B, latent_dim] -> images.
    discriminator: linen module, images -> logits [B].
    loss: the (d_loss, g_loss) pair, both functions of (real, fake) logits.
    latent_dim: size of z.
    axis_name: the pmap axis to average over, or None on one device.
    game: a game-aware optimizer, or None.

  Returns:
    ``train_step(state, batch) -> (state, metrics)``; metrics are scalars:
    d_loss, g_loss, d_grad_norm, g_grad_norm, finite (1.0 when every metric
    is finite), plus d_real/d_fake (mean D(x), D(G(z))) for the alternating
    update or the game optimizer's own metrics (e.g. cg_iterations).
  """

  def average(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  def with_finite_flag(metrics):
    metrics["finite"] = jnp.all(jnp.isfinite(jnp.stack(list(metrics.values())))).astype(jnp.float32)
    return metrics

  def game_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    real_batches = batch["image"]
    if real_batches.shape[0] != 1:
      raise ValueError("game optimizers take one discriminator batch per step (d_steps == 1)")
    real, local_batch = real_batches[0], real_batches.shape[1]
    step_key = jax.random.fold_in(state.rng, state.step)
    z = latents(jax.random.fold_in(step_key, _G_NOISE), local_batch, latent_dim,
                _batch_offset(axis_name, local_batch))

    def logits(g_params, d_params):
      fake = generator.apply(g_params, z)
      return discriminator.apply(d_params, real), discriminator.apply(d_params, fake)

    g_params, d_params, game_state, game_metrics = game.step(
        lambda g, d: loss.g_loss(*logits(g, d)), lambda g, d: loss.d_loss(*logits(g, d)),
        state.g.params, state.d.params, state.game, reduce=average)
    renamed = {"loss_x": "g_loss", "loss_y": "d_loss", "grad_norm_x": "g_grad_norm",
               "grad_norm_y": "d_grad_norm"}
    metrics = {renamed.get(k, k): jnp.asarray(v, jnp.float32) for k, v in game_metrics.items()}
    new_state = state.replace(
        step=state.step + 1, game=game_state,
        g=state.g.replace(params=g_params, step=state.g.step + 1),
        d=state.d.replace(params=d_params, step=state.d.step + 1))
    return new_state, with_finite_flag(metrics)

  def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    real_batches = batch["image"]
    d_steps, local_batch = real_batches.shape[:2]
    offset = _batch_offset(axis_name, local_batch)
    step_key = jax.random.fold_in(state.rng, state.step)
    d_keys = jax.random.split(jax.random.fold_in(step_key, _D_NOISE), d_steps)

    def d_update(d_state, inputs):
      real, key = inputs
      fake = generator.apply(state.g.params, latents(key, local_batch, latent_dim, offset))

      def d_objective(d_params):
        real_logits = discriminator.apply(d_params, real)
        fake_logits = discriminator.apply(d_params, fake)
        return loss.d_loss(real_logits, fake_logits), (real_logits, fake_logits)

      (d_loss, (real_logits, fake_logits)), grads = jax.value_and_grad(
          d_objective, has_aux=True)(d_state.params)
      grads = average(grads)
      metrics = {"d_loss": d_loss, "d_grad_norm": optax.tree.norm(grads),
                 "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                 "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
      return d_state.apply_gradients(grads=grads), metrics

    d_state, d_metrics = jax.lax.scan(d_update, state.d, (real_batches, d_keys))
    d_metrics = jax.tree.map(lambda m: m[-1], d_metrics)

    z = latents(jax.random.fold_in(step_key, _G_NOISE), local_batch, latent_dim, offset)
    real = real_batches[-1]

    def g_objective(g_params):
      # The real logits do not depend on G; they are here because some losses
      # (the minimax value, relativistic losses) are functions of both.
      real_logits = discriminator.apply(d_state.params, real)
      fake_logits = discriminator.apply(d_state.params, generator.apply(g_params, z))
      return loss.g_loss(real_logits, fake_logits)

    g_loss, g_grads = jax.value_and_grad(g_objective)(state.g.params)
    g_grads = average(g_grads)
    metrics = dict(d_metrics, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
    metrics = average(metrics)
    new_state = state.replace(step=state.step + 1, g=state.g.apply_gradients(grads=g_grads), d=d_state)
    return new_state, with_finite_flag(metrics)

  return train_step if game is None else game_step


def make_train_loop(train_step: TrainStep, *, global_batch: int, d_steps: int,
                    steps_per_call: int, axis_name: Optional[str] = None):
  """Fuses ``steps_per_call`` steps, batches drawn on the device, into one scan.

  Args:
    train_step: from ``make_train_step`` (with the same ``axis_name``).
    global_batch: examples per discriminator step over all devices.
    d_steps: discriminator steps per generator step.
    steps_per_call: generator steps per call.
    axis_name: the pmap axis, or None.

  Returns:
    ``loop(state, images, data_key) -> (state, metrics)`` where ``images`` is
    the whole uint8 data set [N, H, W, C] and every metric has a leading
    [steps_per_call] axis. ``metrics["step"]`` holds each step's index.
  """

  def loop(state: GANState, images: jax.Array, data_key: jax.Array):
    num_devices = 1 if axis_name is None else jax.lax.psum(1, axis_name)
    local_batch = global_batch // num_devices

    def body(state, _):
      # Every device draws the same global indices and keeps its own slice.
      idx = jax.random.randint(jax.random.fold_in(data_key, state.step),
                               (d_steps, global_batch), 0, images.shape[0])
      idx = jax.lax.dynamic_slice_in_dim(idx, _batch_offset(axis_name, local_batch),
                                         local_batch, axis=1)
      step = state.step
      state, metrics = train_step(state, {"image": to_float(images[idx])})
      return state, dict(metrics, step=step)

    return jax.lax.scan(body, state, None, length=steps_per_call)

  return loop


def replicate(tree, devices=None):
  """Copies every leaf onto each local device, stacked on a new leading axis (pmap's input)."""
  devices = list(devices or jax.local_devices())
  sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), ("devices",)),
                                        jax.sharding.PartitionSpec("devices"))
  return jax.tree.map(
      lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (len(devices),) + np.shape(x)),
                               sharding), tree)


def unreplicate(tree):
  """The first local device's copy of a replicated tree, as host numpy arrays.

  It reads the local shard directly: indexing (``x[0]``) would dispatch a
  computation, which in a multi-process run waits for the other processes.
  """
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)[0], tree)


def compile_train_loop(loop, *, pmap_axis: Optional[str]):
  """jit (one device) or pmap (all local devices) with the state donated."""
  if pmap_axis is None:
    return jax.jit(loop, donate_argnums=(0,))
  return jax.pmap(loop, axis_name=pmap_axis, donate_argnums=(0,))
