"""2-D Gaussian mixtures with known modes: the mode-collapse benchmark as a data source.

Two mixtures, reached by name through one registry::

    mixture = gan_jax.mixtures.get("grid")
    points = gan_jax.mixtures.sample(key, mixture, 512)

This module is the whole ``config.dataset = "mixture:NAME"`` source, which it
registers in ``gan_jax.data``: the batches (``MixtureData``), the evaluation
by modes (``MixtureEvaluator``), the samples picture over the
discriminator's landscape (``landscape_writer``) and what
``experiments.sample`` saves (``write_samples``). A new kind of data with
its own evaluation is a module like this one.

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
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, reporting
from gan_jax.errors import UserError
from gan_jax.metrics import mode_coverage
from gan_jax.registry import Registry
from gan_jax.state import Inference
from gan_jax.train_step import generate, latents


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


# The data source.

METRICS = ("modes", "high_quality", "reverse_kl")


class MixtureEvaluator:
  """``evaluate(view) -> {modes, high_quality, reverse_kl}`` for a run on a mixture.

  ``gan_jax.metrics.mode_coverage.mixture_mode_stats`` of ``num_samples``
  generated points: a sample is high quality within 3 std of its nearest
  mode, a mode is captured with at least one high-quality sample, reverse KL
  is KL(mode histogram of the high-quality samples || uniform). The latents
  are fixed by the key, so two evaluations of the same generator agree
  exactly.
  """

  headline = METRICS

  def __init__(self, config: ml_collections.ConfigDict, *, generator, discriminator,
               dataset: MixtureData, key: jax.Array, num_samples: int):
    del discriminator  # Judged by its samples alone.
    self.source = dataset
    self._z = latents(key, num_samples, config.latent_dim)
    self._sample = jax.jit(functools.partial(generate, generator))
    self.info = {"features": "modes", "num_fake": int(num_samples),
                 "mixture": dataset.name, "num_modes": int(dataset.mixture.modes.shape[0])}

  def metric_names(self) -> tuple[str, ...]:
    return METRICS

  def generate(self, view: Inference) -> np.ndarray:
    """The evaluation's points in the data's own coordinates, float64 [N, D]."""
    points = np.asarray(self._sample(view.generator, self._z), np.float64)
    return points * self.source.scale

  def __call__(self, view: Inference) -> dict:
    """Mode statistics of a state's inference view; samples that are not finite score 0."""
    points = self.generate(view)
    if not np.all(np.isfinite(points)):
      return {"modes": 0, "high_quality": 0.0, "reverse_kl": float("nan")}
    mixture = self.source.mixture
    return dict(mode_coverage.mixture_mode_stats(points, mixture.modes, mixture.std))

  def describe(self, values: dict) -> dict:
    """Per-metric records for eval.json."""
    return {name: {"value": value, "num_fake": self.info["num_fake"], "features": "modes",
                   "mixture": self.source.name} for name, value in values.items()}


# Points drawn in a training step's samples picture, and its landscape's resolution.
NUM_SAMPLE_POINTS = 1000
LANDSCAPE_RESOLUTION = 120


def landscape_writer(config: ml_collections.ConfigDict, *, generator, discriminator,
                     dataset: MixtureData,
                     key: jax.Array) -> Callable[[Inference, int], np.ndarray]:
  """A function (view, step) -> uint8 RGB picture of fixed points over sigmoid(D) (if D exists)."""
  update_rule = config.game_optimizer if config.game_optimizer != "none" else config.optimizer
  fixed_z = latents(key, NUM_SAMPLE_POINTS, config.latent_dim)
  lim = _plot_limit(dataset)
  axis = np.linspace(-lim, lim, LANDSCAPE_RESOLUTION, dtype=np.float32)
  xs, ys = np.meshgrid(axis, axis, indexing="xy")
  grid_points = np.stack([xs.ravel(), ys.ravel()], axis=1) / dataset.scale
  sample = jax.jit(functools.partial(generate, generator))
  landscape = jax.jit(lambda variables: jax.nn.sigmoid(discriminator.apply(variables,
                                                                           grid_points)))

  def draw(view: Inference, step: int) -> np.ndarray:
    points = np.asarray(sample(view.generator, fixed_z)) * dataset.scale
    prob = (None if view.discriminator is None else np.asarray(
        landscape(view.discriminator)).reshape(LANDSCAPE_RESOLUTION, LANDSCAPE_RESOLUTION))
    return reporting.mixture_figure(points, dataset.mixture.modes, prob, lim,
                                    f"{dataset.name}, {update_rule}, step {step}")

  return draw


def write_samples(dataset: MixtureData, outputs: np.ndarray, out: str, png: str) -> None:
  """``experiments.sample``'s files: the .npz of ``points`` and their scatter PNG.

  ``points`` are float32 [N, D] in the data's own coordinates.
  """
  points = np.asarray(outputs, np.float64) * dataset.scale
  with reporting.replaced_whole(out) as tmp:
    np.savez(tmp, points=points.astype(np.float32))
  reporting.save_png(png, reporting.mixture_figure(points, dataset.mixture.modes, None,
                                                   _plot_limit(dataset), dataset.name))


def _plot_limit(dataset: MixtureData) -> float:
  """Half-width of the square drawn: the farthest mode, and half as much again around it."""
  return 1.5 * dataset.scale


def _check_name(name: str) -> None:
  mixture = name[len(PREFIX):]
  if mixture not in names():
    raise UserError(f"unknown dataset {name!r}: no mixture {mixture!r}; known mixtures: "
                    + ", ".join(names()))


data.register_source("mixture", data.Source(
    load=lambda name, size, channels: load(name), usage="mixture:NAME", check=_check_name,
    metrics=METRICS, make_evaluator=MixtureEvaluator, make_sample_writer=landscape_writer,
    write_samples=write_samples))
