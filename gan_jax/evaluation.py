"""Evaluation during training, every ``config.eval_every`` steps.

The core evaluator needs no trained feature network:

- ``eval/pixel_fd``: the Frechet distance (Heusel et al. 2017) between
  generated and held-out real images in raw pixel space. It is a coarse but
  honest sample-quality signal; feature-space FID/KID come from
  ``gan_jax.metrics`` with a trained feature extractor.
- ``eval/d_real``, ``eval/d_fake``: the discriminator's mean probability on
  held-out real images and on generated ones.

Samples come from a fixed key, so the numbers of two runs are comparable.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import metrics
from gan_jax.data import Dataset, to_float
from gan_jax.state import GANState
from gan_jax.train_step import latents


def real_eval_images(dataset: Dataset, num: int, key: jax.Array) -> np.ndarray:
  """``num`` real images for evaluation: the held-out split if there is one."""
  pool = dataset.eval_images if dataset.eval_images is not None else dataset.images
  idx = np.asarray(jax.random.choice(key, len(pool), (min(num, len(pool)),), replace=False))
  return pool[np.sort(idx)]


def make_evaluator(*, generator, discriminator, dataset: Dataset, num_samples: int,
                   latent_dim: int, key: jax.Array) -> Callable[[GANState], dict]:
  """Returns ``evaluate(state) -> {name: float}`` for one device's state."""
  real_key, z_key = jax.random.split(key)
  real = to_float(real_eval_images(dataset, num_samples, real_key))
  real_stats = metrics.feature_statistics(real.reshape(len(real), -1))
  z = latents(z_key, num_samples, latent_dim)

  @jax.jit
  def forward(g_params, d_params):
    fake = generator.apply(g_params, z)
    d_real = jnp.mean(jax.nn.sigmoid(discriminator.apply(d_params, real)))
    d_fake = jnp.mean(jax.nn.sigmoid(discriminator.apply(d_params, fake)))
    return fake, d_real, d_fake

  def evaluate(state: GANState) -> dict:
    fake, d_real, d_fake = jax.device_get(forward(state.g.params, state.d.params))
    fake_stats = metrics.feature_statistics(np.asarray(fake).reshape(len(fake), -1))
    return {"pixel_fd": metrics.frechet_distance_from_stats(*fake_stats, *real_stats),
            "d_real": float(d_real), "d_fake": float(d_fake)}

  return evaluate
