"""The SNGAN ResNet generator and discriminator for 32x32 images.

G: z -> dense 4x4xwidth -> 3 up residual blocks (BN, ReLU, x2 up-conv, BN,
ReLU, 3x3 conv; shortcut: nearest x2 and 1x1 conv) -> BN, ReLU, 3x3 conv,
tanh. The up-convolution follows ``config.upsample`` (the paper's is
"resize": nearest then 3x3 conv). With classes, every BN is class-conditional.

D: an optimised first down block (conv, ReLU, conv, avg-pool; shortcut
avg-pool and 1x1 conv), a down block, two plain blocks, ReLU, global sum
pooling, a dense logit (plus a projection or an ACGAN head). Every layer is
spectrally normalised when ``config.spectral_norm``.

Widths: the paper's CIFAR-10 nets use 256 (G) and 128 (D) channels;
``config.width`` sets both here.

References:
  Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
  Networks", appendix B.4 (Tables 4 and 5); Gulrajani et al. 2017 (the
  residual blocks); Miyato & Koyama 2018 (the conditional variant).
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.networks import layers

_NUM_UP_BLOCKS = 3


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def check_shape(image_shape: tuple[int, ...]) -> None:
  height, width = image_shape[:2]
  if height % 8 or width % 8:
    raise ValueError(f"the SNGAN ResNet needs image sides divisible by 8 (32x32), got "
                     f"{height}x{width}; set config.image_size=32 to pad 28x28 images")


class UpBlock(nn.Module):
  features: int
  upsample: str
  num_classes: int
  axis_name: Optional[str]
  conv_impl: str

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array], train: bool) -> jax.Array:
    norm = lambda h: nn.relu(layers.Norm(self.num_classes, self.axis_name)(h, labels, train))
    h = layers.upsampler(self.upsample)(self.features, self.conv_impl)(norm(x))
    h = layers.conv(self.features, (3, 3), self.conv_impl)(norm(h))
    return h + layers.conv(self.features, (1, 1), self.conv_impl)(layers.nearest_up(x))


class ResNetGenerator(nn.Module):
  """Latents (and labels) -> images [B, H, W, C] in [-1, 1]."""

  image_shape: tuple[int, int, int]
  width: int
  upsample: str
  num_classes: int = 0
  axis_name: Optional[str] = None
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None,
               train: bool = False) -> jax.Array:
    check_shape(self.image_shape)
    height, width, channels = self.image_shape
    if self.num_classes and labels is None:
      labels = layers.default_labels(z.shape[0], self.num_classes)
    start = (height >> _NUM_UP_BLOCKS, width >> _NUM_UP_BLOCKS)
    h = layers.dense(start[0] * start[1] * self.width)(z).reshape(z.shape[0], *start, self.width)
    for _ in range(_NUM_UP_BLOCKS):
      h = UpBlock(self.width, self.upsample, self.num_classes, self.axis_name,
                  self.conv_impl)(h, labels, train)
    h = nn.relu(layers.Norm(self.num_classes, self.axis_name)(h, labels, train))
    return jnp.tanh(layers.conv(channels, (3, 3), self.conv_impl)(h))


class DownBlock(nn.Module):
  features: int
  downsample: bool
  first: bool
  spectral_norm: bool
  conv_impl: str

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool) -> jax.Array:
    sn = dict(spectral_norm=self.spectral_norm, update_stats=update_stats)
    h = x if self.first else nn.relu(x)
    h = layers.maybe_sn(layers.conv(self.features, (3, 3), self.conv_impl), h, **sn)
    h = layers.maybe_sn(layers.conv(self.features, (3, 3), self.conv_impl), nn.relu(h), **sn)
    shortcut = x
    if self.first:  # The optimised block pools before its 1x1 shortcut conv.
      shortcut = layers.maybe_sn(layers.conv(self.features, (1, 1), self.conv_impl),
                                 _avg_pool(x), **sn)
    elif self.downsample or x.shape[-1] != self.features:
      shortcut = layers.maybe_sn(layers.conv(self.features, (1, 1), self.conv_impl), x, **sn)
      shortcut = _avg_pool(shortcut) if self.downsample else shortcut
    return (_avg_pool(h) if self.downsample else h) + shortcut


class ResNetDiscriminator(nn.Module):
  """Images (and labels) -> logits [B] (and class logits for ACGAN)."""

  width: int
  spectral_norm: bool = True
  conditioning: str = "none"
  num_classes: int = 0
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None,
               update_stats: bool = False, with_class_logits: bool = False):
    check_shape(x.shape[1:])
    h = x
    for downsample, first in ((True, True), (True, False), (False, False), (False, False)):
      h = DownBlock(self.width, downsample, first, self.spectral_norm,
                    self.conv_impl)(h, update_stats)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    head = layers.OutputHead(self.conditioning, self.num_classes, self.spectral_norm)
    return head(h, labels, update_stats=update_stats, with_class_logits=with_class_logits)
