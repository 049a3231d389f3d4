"""The VAE baseline: a pure ELBO step in the GAN step's functional style.

Selected with ``config.model = "vae"`` (``experiments/configs/vae.py``) and
run by the same ``gan_jax.train.train_and_evaluate``, so a VAE run writes the
same workdir (metrics.jsonl, sample grids, checkpoints, summary.json with
params_sha256) and can be a row of the same evaluation tables. It reuses the
GAN's state pytree: ``state.g`` holds the decoder (the "generator": z ->
image), ``state.d`` the encoder; each has its own optax optimizer, and both
minimise the same negative ELBO.

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
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax.state import GANState
from gan_jax.train_step import TrainStep, latents

_NOISE = 0


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

  def train_step(state: GANState, batch: dict) -> tuple[GANState, dict]:
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

    (loss, parts), (g_grads, d_grads) = jax.value_and_grad(
        objective, argnums=(0, 1), has_aux=True)(state.g.params, state.d.params)
    g_grads, d_grads = average((g_grads, d_grads))
    metrics = average(dict(parts, loss=loss, decoder_grad_norm=optax.tree.norm(g_grads),
                           encoder_grad_norm=optax.tree.norm(d_grads)))
    metrics["finite"] = jnp.all(jnp.isfinite(jnp.stack(list(metrics.values())))).astype(jnp.float32)
    new_state = state.replace(step=state.step + 1, g=state.g.apply_gradients(grads=g_grads),
                              d=state.d.apply_gradients(grads=d_grads))
    return new_state, metrics

  return train_step
