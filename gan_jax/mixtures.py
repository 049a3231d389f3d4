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

import dataclasses
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


PREFIX = "mixture:"


@dataclasses.dataclass(frozen=True)
class MixtureData:
  """A mixture as a run's data source (``config.dataset = "mixture:NAME"``).

  Training draws fresh points on the device at every step (no finite data
  set), divided by ``scale``, the largest mode coordinate, so that the
  networks see data in [-1, 1] as they see images; samples are multiplied
  back by ``scale`` before they are evaluated or plotted.

  Attributes:
    name: the ``config.dataset`` string.
    mixture: the distribution.
  """

  name: str
  mixture: Mixture
  labels = None
  eval_images = None

  @property
  def scale(self) -> float:
    """The largest coordinate of any mode (1 for the ring, 4 for the grid)."""
    return float(np.max(np.abs(self.mixture.modes)))

  @property
  def image_shape(self) -> tuple[int]:
    """The shape of one example: a point."""
    return (int(self.mixture.modes.shape[1]),)

  @property
  def device_bytes(self) -> int:
    return int(self.mixture.modes.size * 4)

  def device_arrays(self, with_labels: bool) -> dict:
    del with_labels  # Checked by gan_jax.config.check_data: a mixture has no labels.
    return {"modes": np.asarray(self.mixture.modes / self.scale, np.float32),
            "std": np.float32(self.mixture.std / self.scale)}

  @staticmethod
  def draw_batch(data, key, d_steps, global_batch, offset, local_batch):
    """Fresh points from ``key`` (see ``gan_jax.train_step.make_train_loop``)."""
    points = sample_mixture(key, data["modes"], data["std"], d_steps * global_batch)
    points = points.reshape(d_steps, global_batch, -1)
    return {"image": jax.lax.dynamic_slice_in_dim(points, offset, local_batch, axis=1)}

  def describe(self) -> str:
    """'25 Gaussians in 2-D (std 0.05), fresh points every step, scaled by 1/4'."""
    return (f"{self.mixture.modes.shape[0]} Gaussians in {self.image_shape[0]}-D "
            f"(std {self.mixture.std:g}), fresh points every step, scaled by 1/{self.scale:g}")


def load(name: str) -> MixtureData:
  """The data source of ``config.dataset = "mixture:NAME"``."""
  return MixtureData(name, get(name[len(PREFIX):]))


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
