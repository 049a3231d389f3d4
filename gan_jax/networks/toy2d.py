"""Small fully connected G and D for 2-D points (the Gaussian-mixture benchmark).

G: z -> hidden -> ... -> 2 with a *linear* output (the data are not bounded
to [-1, 1]: the grid's modes sit at +-4); D: 2 -> hidden -> ... -> 1 logit.
Hidden layers use leaky ReLU (``negative_slope=0`` gives ReLU).

Both take a fixed ``scale``: G multiplies its output by it and D divides its
input by it, which is the same as training on data divided by ``scale`` (e.g.
the grid's extent, 4, so that the data lie in [-1, 1]).

Fully connected ReLU-type networks with a 2-D output are what the 2-D
experiments of the mode-collapse literature use (Metz et al. 2017, "Unrolled
GANs"; Srivastava et al. 2017, "VEEGAN"; Lin et al. 2018, "PacGAN"), there
wider (PacGAN's G: 4 x 400 units with batch norm); the benchmark's widths are
set in ``experiments/configs/mog_grid.py`` so that a run takes minutes on a CPU
(``config.model = "toy2d"``, ``hidden_dims`` and ``leaky_relu_slope`` for both
players; the data source scales the points, so ``scale`` stays 1 there).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class Toy2DGenerator(nn.Module):
  """Maps latents [B, latent_dim] to points [B, out_dim] (linear output).

  Attributes:
    hidden_dims: widths of the hidden layers.
    out_dim: dimension of the points (2 for the benchmark).
    negative_slope: slope of the leaky ReLU for negative inputs.
    scale: the output is ``scale`` times the last dense layer's.
  """

  hidden_dims: Sequence[int]
  out_dim: int = 2
  negative_slope: float = 0.0
  scale: float = 1.0

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z
    for width in self.hidden_dims:
      h = nn.leaky_relu(nn.Dense(width)(h), self.negative_slope)
    return self.scale * nn.Dense(self.out_dim)(h)


class Toy2DDiscriminator(nn.Module):
  """Maps points [B, D] to one logit per point, shape [B].

  With ``pack = m > 1`` D is PacGAN's packed discriminator: it judges each
  run of m consecutive points as one sample (their coordinates concatenated,
  [B/m, m*D]) and every point of a pack gets its pack's logit. The mean of any
  loss over the B points is then the mean over the B/m packs, so the training
  step needs no change; B must be a multiple of m, and real and fake points
  must not share a pack (true when D sees real and fake batches of B points
  each, or their concatenation).

  Attributes:
    hidden_dims: widths of the hidden layers.
    negative_slope: slope of the leaky ReLU for negative inputs.
    scale: the input is divided by ``scale`` first.
    pack: points judged together (1: an ordinary discriminator).

  References:
    Lin et al. 2018, "PacGAN: The power of two samples in generative
    adversarial networks", section 3 (packing).
  """

  hidden_dims: Sequence[int]
  negative_slope: float = 0.0
  scale: float = 1.0
  pack: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.shape[0] % self.pack:
      raise ValueError(f"a discriminator with pack={self.pack} needs a batch that is a "
                       f"multiple of {self.pack}, got {x.shape[0]} points")
    h = x.reshape((x.shape[0] // self.pack, -1)) / self.scale
    for width in self.hidden_dims:
      h = nn.leaky_relu(nn.Dense(width)(h), self.negative_slope)
    return jnp.repeat(nn.Dense(1)(h)[:, 0], self.pack, total_repeat_length=x.shape[0])
