"""The seed design's fully connected GAN.

G: z -> 128 -> 128 -> H*W*C (tanh), D: H*W*C -> 128 -> 128 -> 1 logit, with
leaky ReLU hidden activations (the MNIST MLP of the seed documents; Goodfellow
et al. 2014 used a similar maxout MLP).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.networks import layers


class MLPGenerator(nn.Module):
  """Maps latents [B, latent_dim] to images [B, *image_shape] in [-1, 1]."""

  hidden_dims: Sequence[int]
  image_shape: tuple[int, ...]
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z
    for width in self.hidden_dims:
      h = nn.leaky_relu(nn.Dense(width)(h), self.negative_slope)
    h = nn.Dense(math.prod(self.image_shape))(h)
    return jnp.tanh(h).reshape((z.shape[0],) + tuple(self.image_shape))


class MLPDiscriminator(nn.Module):
  """Maps images [B, H, W, C] to one logit per image, shape [B].

  With ``spectral_norm`` every dense layer is spectrally normalised (Miyato
  et al. 2018); the parameters are the same, the power-iteration vectors live
  in the ``spectral`` collection and are stored when ``update_stats``.
  """

  hidden_dims: Sequence[int]
  negative_slope: float = 0.2
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False) -> jax.Array:
    sn = dict(spectral_norm=self.spectral_norm, update_stats=update_stats)
    h = x.reshape((x.shape[0], -1))
    for width in self.hidden_dims:
      h = nn.leaky_relu(layers.maybe_sn(nn.Dense(width), h, **sn), self.negative_slope)
    return layers.maybe_sn(nn.Dense(1), h, **sn)[:, 0]
