"""The VAE baseline: a pure ELBO step in the GAN step's functional style.

Selected with ``config.model = "vae"`` (``experiments/configs/vae.py``) and
run by the same ``gan_jax.train.train_and_evaluate``, so a VAE run writes the
same workdir (metrics.jsonl, sample grids, checkpoints, summary.json with
params_sha256) and can be a row of the same evaluation tables. It is its own
model family (``gan_jax.families``): a ``VAEState`` holds the decoder (the
sampler: z -> image) and the encoder, each with its own optax optimizer
(``config.g_*`` and ``config.d_*`` learning rates), and both minimise the
same negative ELBO.

Model: q(z|x) = N(mean(x), diag exp(log_var(x))), p(z) = N(0, I), and a
Bernoulli likelihood on pixels rescaled to [0, 1] (``gan_jax.networks.vae``).
The reparameterisation noise of example j comes from ``fold_in(k, j)`` over
the global batch, as the GAN's latents do, so runs on 1 or N devices match.

References:
  Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. (10) and
  appendix B (the Gaussian KL term).
"""

from __future__ import annotations

from typing import Optional

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from gan_jax.state import Inference, named_trees_sha256, split_variables
from gan_jax.train_step import TrainStep, latents

_NOISE = 0

# The GAN settings that do not apply to a VAE, at the values that switch them
# off (``gan_jax.config`` refuses others).
NEUTRAL_SETTINGS = {"conditioning": "none", "regularizer": "none", "spectral_norm": False,
                    "diffaugment": "", "label_smoothing": 0.0, "game_optimizer": "none",
                    "d_steps_per_g_step": 1, "g_ema_decay": 0.0}


@flax.struct.dataclass
class VAEState:
  """Everything the VAE step reads and writes.

  Attributes:
    step: int32 scalar, completed steps.
    rng: the run's base key; step t's noise comes from ``fold_in(rng, t)``.
    decoder: z -> pixel logits; its params and optax state.
    encoder: images -> (mean, log_var); its params and optax state.
  """

  step: jax.Array
  rng: jax.Array
  decoder: train_state.TrainState
  encoder: train_state.TrainState


def create_state(*, rng: jax.Array, decoder: nn.Module, encoder: nn.Module,
                 decoder_tx: optax.GradientTransformation,
                 encoder_tx: optax.GradientTransformation, latent_dim: int,
                 image_shape: tuple[int, ...]) -> VAEState:
  """Initialises both networks from ``rng`` (a raw uint32[2] key)."""
  decoder_key, encoder_key, train_key = jax.random.split(rng, 3)
  decoder_params, _ = split_variables(
      decoder.init(decoder_key, jnp.zeros((1, latent_dim), jnp.float32)))
  encoder_params, _ = split_variables(
      encoder.init(encoder_key, jnp.zeros((1,) + tuple(image_shape), jnp.float32)))
  return VAEState(
      step=jnp.zeros((), jnp.int32), rng=train_key,
      decoder=train_state.TrainState.create(apply_fn=decoder.apply, params=decoder_params,
                                            tx=decoder_tx),
      encoder=train_state.TrainState.create(apply_fn=encoder.apply, params=encoder_params,
                                            tx=encoder_tx))


def inference(state: VAEState) -> Inference:
  """The decoder samples from the prior; there is no critic."""
  return Inference(generator=state.decoder.params, discriminator=None, step=state.step)


def params_sha256(state: VAEState) -> str:
  """A hash of the decoder's and encoder's parameters (``gan_jax.state.named_trees_sha256``)."""
  return named_trees_sha256((("decoder", state.decoder.params),
                             ("encoder", state.encoder.params)))


def gaussian_kl(mean: chex.Array, log_var: chex.Array) -> chex.Array:
  """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latents, [B].

  References:
    Kingma & Welling 2014, appendix B.
  """
  return 0.5 * jnp.sum(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var, axis=-1)


def bernoulli_nll(logits: chex.Array, images: chex.Array) -> chex.Array:
  """-log p(x | z) per example for pixels in [-1, 1] rescaled to [0, 1], [B].

  The cross-entropy t log sigmoid(l) + (1 - t) log sigmoid(-l), summed over
  pixels, in the stable log-sigmoid form.
  """
  chex.assert_equal_shape([logits, images])
  targets = 0.5 * (images + 1.0)
  log_lik = targets * jax.nn.log_sigmoid(logits) + (1.0 - targets) * jax.nn.log_sigmoid(-logits)
  return -jnp.sum(log_lik.reshape(log_lik.shape[0], -1), axis=-1)


def make_train_step(*, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                    axis_name: Optional[str] = None) -> TrainStep:
  """Builds the pure VAE update: one Adam/SGD step of both networks on -ELBO.

  Args:
    encoder: images -> (mean, log_var), each [B, latent_dim].
    decoder: ``(z, return_logits=True)`` -> pixel logits [B, H, W, C].
    latent_dim: size of z.
    axis_name: the pmap axis to average over, or None on one device.

  Returns:
    ``train_step(state, batch) -> (state, metrics)`` with ``batch["image"]``
    [1, B, H, W, C] (the loop's layout with one batch per step). Metrics:
    loss (-ELBO per example, nats), reconstruction, kl, decoder_grad_norm,
    encoder_grad_norm, finite.
  """

  def average(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  def train_step(state: VAEState, batch: dict) -> tuple[VAEState, dict]:
    images = batch["image"]
    if images.shape[0] != 1:
      raise ValueError("the VAE takes one batch per step (d_steps_per_g_step == 1)")
    x, local_batch = images[0], images.shape[1]
    offset = 0 if axis_name is None else jax.lax.axis_index(axis_name) * local_batch
    step_key = jax.random.fold_in(state.rng, state.step)
    eps = latents(jax.random.fold_in(step_key, _NOISE), local_batch, latent_dim, offset)

    def objective(decoder_params, encoder_params):
      mean, log_var = encoder.apply(encoder_params, x)
      z = mean + jnp.exp(0.5 * log_var) * eps  # Reparameterisation (eq. (10)).
      reconstruction = jnp.mean(bernoulli_nll(
          decoder.apply(decoder_params, z, return_logits=True), x))
      kl = jnp.mean(gaussian_kl(mean, log_var))
      return reconstruction + kl, {"reconstruction": reconstruction, "kl": kl}

    (loss, parts), (decoder_grads, encoder_grads) = jax.value_and_grad(
        objective, argnums=(0, 1), has_aux=True)(state.decoder.params, state.encoder.params)
    decoder_grads, encoder_grads = average((decoder_grads, encoder_grads))
    metrics = average(dict(parts, loss=loss, decoder_grad_norm=optax.tree.norm(decoder_grads),
                           encoder_grad_norm=optax.tree.norm(encoder_grads)))
    metrics["finite"] = jnp.all(jnp.isfinite(jnp.stack(list(metrics.values())))).astype(jnp.float32)
    new_state = state.replace(step=state.step + 1,
                              decoder=state.decoder.apply_gradients(grads=decoder_grads),
                              encoder=state.encoder.apply_gradients(grads=encoder_grads))
    return new_state, metrics

  return train_step
