"""2-D Gaussian mixtures with known modes, the mode-collapse benchmark's data.

Two mixtures, reached by name through one registry::

    mixture = gan_jax.mixtures.get("grid")
    points = gan_jax.mixtures.sample(key, mixture, 512)

* ``ring``: 8 Gaussians evenly spaced on the unit circle, std 0.01.
* ``grid``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.

Both are the settings of PacGAN's 2-D experiments (Lin et al. 2018, section 5
and Table 1), which follow VEEGAN's (Srivastava et al. 2017, Table 1). Every
component has the same weight and an isotropic covariance ``std^2 I``. The
means come from ``gan_jax.metrics.mode_coverage`` so that the data and the
metric always agree.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics import mode_coverage
from gan_jax.registry import Registry


class Mixture(NamedTuple):
  """An equal-weight isotropic Gaussian mixture.

  Attributes:
    modes: float64 [K, D] component means.
    std: the components' standard deviation.
  """

  modes: np.ndarray
  std: float


def sample_mixture(key: jax.Array, modes: jax.Array, std: float, n: int) -> jax.Array:
  """Draws ``n`` points from the equal-weight mixture of N(mode, std^2 I).

  Pure and jit-able (``n`` is static); the component of each point is uniform
  over the modes.

  Args:
    key: PRNG key; the component indices and the offsets use two keys folded
      in from it.
    modes: [K, D] component means.
    std: component standard deviation (>= 0).
    n: number of points (static).

  Returns:
    float32 [n, D] points.

  References:
    Lin et al. 2018, "PacGAN: The power of two samples in generative
    adversarial networks", section 5 (2-D mixtures).
  """
  modes = jnp.asarray(modes, jnp.float32)
  which = jax.random.randint(jax.random.fold_in(key, 0), (n,), 0, modes.shape[0])
  noise = jax.random.normal(jax.random.fold_in(key, 1), (n, modes.shape[1]), jnp.float32)
  return modes[which] + std * noise


def sample(key: jax.Array, mixture: Mixture, n: int) -> jax.Array:
  """``sample_mixture`` for a ``Mixture``."""
  return sample_mixture(key, mixture.modes, mixture.std, n)


_REGISTRY: Registry[Mixture] = Registry("mixture")


def register(name: str, mixture: Mixture, *, overwrite: bool = False) -> None:
  """Adds ``mixture`` under ``name``."""
  _REGISTRY.register(name, mixture, overwrite=overwrite)


def get(name: str) -> Mixture:
  """The mixture registered as ``name``."""
  return _REGISTRY.get(name)


def names() -> list[str]:
  """The registered names, sorted."""
  return _REGISTRY.names()


# Lin et al. 2018, section 5: ring of 8 modes, radius 1, std 0.01; 5 x 5 grid
# with spacing 2, std 0.05.
register("ring", Mixture(mode_coverage.ring_modes(8, 1.0), 0.01))
register("grid", Mixture(mode_coverage.grid_modes(5, 2.0), 0.05))
