"""The VAE baseline's MLP encoder and decoder (Kingma & Welling 2014, appendix C).

Registered as ``config.model = "vae"`` of the ``vae`` model family
(``gan_jax.families``): ``gan_jax.vae`` trains both on the ELBO, and the
decoder is the sampler (``decoder(z)`` gives images in [-1, 1], so sample
grids and evaluation treat it like a GAN generator).

The likelihood is Bernoulli on pixels rescaled to [0, 1]: the decoder's
outputs are per-pixel logits l, and the image it shows is the Bernoulli
mean mapped back to [-1, 1], 2 sigmoid(l) - 1 = tanh(l / 2).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.networks import layers


class VAEEncoder(nn.Module):
  """Images [B, H, W, C] -> (mean, log variance) of q(z | x), each [B, latent_dim]."""

  hidden_dims: Sequence[int]
  latent_dim: int
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.reshape((x.shape[0], -1))
    for width in self.hidden_dims:
      h = nn.leaky_relu(layers.dense(width)(h), self.negative_slope)
    return layers.dense(self.latent_dim)(h), layers.dense(self.latent_dim)(h)


class VAEDecoder(nn.Module):
  """Latents [B, latent_dim] -> images in [-1, 1], or pixel logits when asked."""

  hidden_dims: Sequence[int]
  image_shape: tuple[int, ...]
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, z: jax.Array, return_logits: bool = False) -> jax.Array:
    h = z
    for width in reversed(tuple(self.hidden_dims)):
      h = nn.leaky_relu(layers.dense(width)(h), self.negative_slope)
    logits = layers.dense(math.prod(self.image_shape))(h)
    logits = logits.reshape((z.shape[0],) + tuple(self.image_shape))
    return logits if return_logits else jnp.tanh(0.5 * logits)
