"""Small fully connected G and D for 2-D points (the Gaussian-mixture benchmark).

G: z -> hidden -> ... -> 2 with a *linear* output (the data are not bounded
to [-1, 1]: the grid's modes sit at +-4); D: 2 -> hidden -> ... -> 1 logit.
Hidden layers use leaky ReLU (``negative_slope=0`` gives ReLU).

The shapes follow the 2-D experiments of the mode-collapse literature (fully
connected ReLU networks with a 2-D output; Metz et al. 2017, appendix A;
Srivastava et al. 2017, appendix; Lin et al. 2018, section 5), at a smaller
width so that a run takes minutes on a CPU; the benchmark's widths are set in
``experiments/mog.py``.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax


class Toy2DGenerator(nn.Module):
  """Maps latents [B, latent_dim] to points [B, out_dim] (linear output).

  Attributes:
    hidden_dims: widths of the hidden layers.
    out_dim: dimension of the points (2 for the benchmark).
    negative_slope: slope of the leaky ReLU for negative inputs.
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

  Attributes:
    hidden_dims: widths of the hidden layers.
    negative_slope: slope of the leaky ReLU for negative inputs.
  """

  hidden_dims: Sequence[int]
  negative_slope: float = 0.0
  scale: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = x.reshape((x.shape[0], -1)) / self.scale
    for width in self.hidden_dims:
      h = nn.leaky_relu(nn.Dense(width)(h), self.negative_slope)
    return nn.Dense(1)(h)[:, 0]
