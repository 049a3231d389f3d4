"""DCGAN for small images (28x28, 32x32; any size divisible by 4).

G: z -> dense to (H/2^n, W/2^n, 2^(n-1) width) -> n x2 up-convolutions,
batch norm and ReLU between them, tanh out; n = 3 when H and W are divisible
by 8 (32 -> 4x4 start), else 2 (28 -> 7x7 start). The up-convolution is
chosen by ``config.upsample`` (``gan_jax.networks.layers.UPSAMPLERS``).

D: n strided 4x4 convolutions (width, 2 width, 4 width), leaky ReLU 0.2, a
dense logit. It has no batch norm, so input-gradient penalties (WGAN-GP,
R1) see each example on its own (Gulrajani et al. 2017, sec. 4); spectral
normalisation of every layer is an option.

References:
  Radford et al. 2016, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", section 3.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.networks import layers


def num_upsamplings(height: int, width: int) -> int:
  """3 if both sides divide by 8, else 2 if they divide by 4."""
  if height % 8 == 0 and width % 8 == 0:
    return 3
  if height % 4 == 0 and width % 4 == 0:
    return 2
  raise ValueError(f"the DCGAN needs image sides divisible by 4, got {height}x{width}; "
                   "set config.image_size to pad the images")


class DCGANGenerator(nn.Module):
  """Latents [B, latent_dim] (and labels [B]) -> images [B, H, W, C] in [-1, 1]."""

  image_shape: tuple[int, int, int]
  width: int
  upsample: str
  num_classes: int = 0
  axis_name: Optional[str] = None
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None,
               train: bool = False) -> jax.Array:
    height, width, channels = self.image_shape
    n = num_upsamplings(height, width)
    if self.num_classes and labels is None:
      labels = layers.default_labels(z.shape[0], self.num_classes)
    norm = lambda x: nn.relu(layers.Norm(self.num_classes, self.axis_name)(x, labels, train))
    up = layers.upsampler(self.upsample)
    features = self.width * 2 ** (n - 1)
    h = layers.dense((height >> n) * (width >> n) * features)(z)
    h = norm(h.reshape(z.shape[0], height >> n, width >> n, features))
    for _ in range(n - 1):
      features //= 2
      h = norm(up(features, self.conv_impl)(h))
    return jnp.tanh(up(channels, self.conv_impl)(h))


class DCGANDiscriminator(nn.Module):
  """Images [B, H, W, C] (and labels) -> logits [B] (and class logits for ACGAN)."""

  width: int
  spectral_norm: bool = False
  conditioning: str = "none"
  num_classes: int = 0
  negative_slope: float = 0.2
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None,
               update_stats: bool = False, with_class_logits: bool = False):
    sn = dict(spectral_norm=self.spectral_norm, update_stats=update_stats)
    h = x
    for i in range(num_upsamplings(*x.shape[1:3])):
      conv = layers.StridedConv(self.width * 2 ** i, kernel_size=4, stride=2,
                                 impl=self.conv_impl)
      h = nn.leaky_relu(layers.maybe_sn(conv, h, **sn), self.negative_slope)
    h = h.reshape(h.shape[0], -1)
    head = layers.OutputHead(self.conditioning, self.num_classes, self.spectral_norm)
    return head(h, labels, update_stats=update_stats, with_class_logits=with_class_logits)
