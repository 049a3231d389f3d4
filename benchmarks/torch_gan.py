"""PyTorch references of gan_jax's training step, for experiments.benchmark only.

The same networks, loss and optimizer as gan_jax's configs:

- MLP (``experiments/configs/default.py``): G z(100) -> 128 -> 128 -> 784
  (tanh), D 784 -> 128 -> 128 -> 1, leaky ReLU 0.2.
- DCGAN (``experiments/configs/dcgan.py``, 28x28): G z(100) -> dense 7x7x128
  -> BN, ReLU -> x2 up-conv to 64 -> BN, ReLU -> x2 up-conv to 1 -> tanh;
  D strided 4x4 convs 64, 128 with leaky ReLU 0.2, a dense logit. The x2
  up-conv is gan_jax's default sub-pixel one (3x3 conv to 4x the channels,
  then pixel shuffle), or DCGAN's 4x4 stride-2 transposed convolution.

Both use the non-saturating loss with logits, Adam(2e-4, betas=(0.5, 0.999))
per player, one D step then one G step, fresh latents every step. torch is
an optional dependency of the benchmark: nothing in gan_jax or its tests
imports this.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import torch
from torch import nn
import torch.nn.functional as F


def mlp_generator(latent_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Module:
  layers, width = [], latent_dim
  for h in hidden:
    layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
    width = h
  return nn.Sequential(*layers, nn.Linear(width, out_dim), nn.Tanh())


def mlp_discriminator(in_dim: int, hidden: Sequence[int]) -> nn.Module:
  layers, width = [nn.Flatten()], in_dim
  for h in hidden:
    layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
    width = h
  return nn.Sequential(*layers, nn.Linear(width, 1))


# The DCGAN generator's up-convolutions this reference has (gan_jax's "resize" it lacks).
UPSAMPLES = ("subpixel", "transpose")


def dcgan_generator(latent_dim: int, width: int, channels: int, upsample: str) -> nn.Module:
  """28x28 DCGAN generator; ``upsample`` is one of ``UPSAMPLES``."""

  def up(c_in: int, c_out: int) -> list[nn.Module]:
    if upsample == "subpixel":
      return [nn.Conv2d(c_in, 4 * c_out, 3, padding=1), nn.PixelShuffle(2)]
    if upsample == "transpose":
      return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
    raise ValueError(f"unknown upsample {upsample!r}; known: {', '.join(UPSAMPLES)}")

  return nn.Sequential(
      nn.Linear(latent_dim, 7 * 7 * 2 * width), nn.Unflatten(1, (2 * width, 7, 7)),
      nn.BatchNorm2d(2 * width), nn.ReLU(),
      *up(2 * width, width), nn.BatchNorm2d(width), nn.ReLU(),
      *up(width, channels), nn.Tanh())


def dcgan_discriminator(width: int, channels: int) -> nn.Module:
  return nn.Sequential(
      nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))


def make_step(generator: nn.Module, discriminator: nn.Module, latent_dim: int,
              lr: float = 2e-4) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
  """One alternating non-saturating GAN step on a real batch (on the batch's device)."""
  g_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
  d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))

  def step(real: torch.Tensor):
    batch, device = real.shape[0], real.device
    fake = generator(torch.randn(batch, latent_dim, device=device)).detach()
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    # -V(D, G): softplus(-l) = -log D, softplus(l) = -log(1 - D).
    d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    g_loss = F.softplus(-discriminator(generator(torch.randn(batch, latent_dim, device=device)))).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    return d_loss.detach(), g_loss.detach()

  return step


def steps_per_sec(step: Callable, real: torch.Tensor, *, steps: int, repeats: int,
                  warmup: int = 5) -> list[float]:
  """Rates of ``repeats`` timed windows of ``steps`` steps each, after warm-up."""
  sync = torch.cuda.synchronize if real.is_cuda else (lambda: None)
  for _ in range(warmup):
    step(real)
  sync()
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      step(real)
    sync()
    rates.append(steps / (time.perf_counter() - start))
  return rates


def build_mlp(batch: int, image_shape=(1, 28, 28), latent_dim: int = 100, hidden=(128, 128),
              seed: int = 0, device: str = "cpu"):
  torch.manual_seed(seed)
  out_dim = math.prod(image_shape)
  generator = nn.Sequential(mlp_generator(latent_dim, hidden, out_dim),
                            nn.Unflatten(1, image_shape))
  discriminator = mlp_discriminator(out_dim, hidden)
  real = torch.rand(batch, *image_shape, device=device) * 2 - 1
  return generator.to(device), discriminator.to(device), real


def build_dcgan(batch: int, upsample: str = "subpixel", latent_dim: int = 100, width: int = 64,
                seed: int = 0, device: str = "cpu"):
  """The 28x28x1 DCGAN pair and a real batch in NCHW (torch's native layout)."""
  torch.manual_seed(seed)
  generator = dcgan_generator(latent_dim, width, 1, upsample)
  discriminator = dcgan_discriminator(width, 1)
  real = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
  return generator.to(device), discriminator.to(device), real
