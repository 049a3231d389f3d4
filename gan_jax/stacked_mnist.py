"""Stacked MNIST: three random digits as the colour channels of one image, 1,000 modes.

The mode-collapse benchmark of Metz et al. 2017 ("Unrolled Generative
Adversarial Networks", section 3.3), Srivastava et al. 2017 (VEEGAN) and Lin
et al. 2018 (PacGAN, Tables 2 and 3): each training image stacks three
independently drawn digits of a labelled MNIST set, so its class is one of
10^3 digit triples. A run's quality is how many of the 1,000 triples its
samples cover and the KL divergence of their histogram from uniform, read off
by a digit classifier applied to each channel.

This module is the whole ``config.dataset = "stacked:SOURCE"`` source, which
it registers in ``gan_jax.data``: SOURCE is any single-channel data set of
digits labelled 0-9 (``stacked:mnist_5k``, ``stacked:npz:PATH``). Training
draws fresh triples on the device at every step (``StackedDigits``); the
evaluation (``StackedEvaluator``) uses the ``classifier`` features trained on
SOURCE's digits (cached like any run's). With ``mnist_5k``'s 500 digits per
class every triple is equally likely.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import ml_collections
import numpy as np

from gan_jax import data, evaluation, features
from gan_jax.errors import UserError
from gan_jax.features.common import batched_apply
from gan_jax.state import Inference
from gan_jax.train_step import generate, latents

PREFIX = "stacked:"
CHANNELS = 3
NUM_DIGITS = 10
# What its evaluator returns (the names a mixture's modes also use).
METRICS = ("modes", "reverse_kl")


@dataclasses.dataclass(frozen=True)
class StackedDigits:
  """A run's data source of stacked digits (``config.dataset = "stacked:SOURCE"``).

  Attributes:
    name: the ``config.dataset`` string.
    digits: SOURCE's data set: uint8 [N, H, W, 1] digits with labels 0-9.
  """

  name: str
  digits: data.Dataset
  labels = None  # Unconditional: the triple is what the run must learn.
  eval_images = None

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (*self.digits.image_shape[:2], CHANNELS)

  @property
  def device_bytes(self) -> int:
    return int(self.digits.images.nbytes)

  def device_arrays(self, with_labels: bool) -> dict:
    del with_labels  # Checked by gan_jax.config.check_data: the stacks have no labels.
    return {"digits": self.digits.images[..., 0]}

  @staticmethod
  def draw_batch(data_arrays, key, d_steps, global_batch, offset, local_batch):
    """Fresh stacks: three uniform digit indices per example (see ``train_step.make_train_loop``).

    Every device draws the same global indices and gathers only its slice.
    """
    digits = data_arrays["digits"]
    idx = data.sliced_indices(key, digits.shape[0], d_steps, global_batch, offset, local_batch,
                              (CHANNELS,))
    stacks = jax.numpy.moveaxis(digits[idx], 2, -1)  # [d, b, 3, H, W] -> [d, b, H, W, 3]
    return {"image": data.to_float(stacks)}

  def describe(self) -> str:
    """'stacks of 3 of 5000 digits 28x28 (1000 modes), fresh every step, 3.7 MiB on each device'."""
    height, width = self.image_shape[:2]
    return (f"stacks of {CHANNELS} of {len(self.digits.images)} digits {height}x{width} "
            f"({NUM_DIGITS ** CHANNELS} modes), fresh every step, "
            f"{self.device_bytes / 2**20:.1f} MiB on each device")


def load(name: str, image_size: int, image_channels: int) -> StackedDigits:
  """The data source of ``config.dataset = "stacked:SOURCE"``.

  SOURCE's digits are padded (or, for ``images:DIR``, resized) to
  ``image_size`` (0: their own size) before they are stacked.

  Raises:
    UserError: SOURCE cannot be read, is not single-channel digits with
      labels 0-9 (every one present in training), or ``image_channels`` is
      not 0 or 3.
  """
  if image_channels not in (0, CHANNELS):
    raise UserError(f"config.image_channels={image_channels} does not apply to dataset {name!r}: "
                    f"its images have {CHANNELS} channels; use 0 or {CHANNELS}")
  base = name[len(PREFIX):]
  digits = data.load(base, image_size, 1)
  if not isinstance(digits, data.Dataset) or digits.image_shape[-1] != 1:
    raise UserError(f"dataset {name!r} stacks single-channel digit images; {base!r} holds "
                    f"{digits.describe()}")
  present = set(np.unique(digits.labels).tolist()) if digits.labels is not None else set()
  held_out = (set(np.unique(digits.eval_labels).tolist()) if digits.eval_labels is not None
              else set())
  if present != set(range(NUM_DIGITS)) or not held_out <= present:
    raise UserError(f"dataset {name!r} needs {base!r} labelled with the digits 0-{NUM_DIGITS - 1}, "
                    "each present in training; it has "
                    + (f"labels {sorted(present | held_out)}" if present else "no labels"))
  return StackedDigits(name, data.pad_to_size(digits, image_size))


class StackedEvaluator:
  """``evaluate(view) -> {modes, reverse_kl}`` over ``num_samples`` fixed latents.

  Each channel of a sample is read by the ``classifier`` features of the
  digits (``gan_jax.evaluation.stacked_mnist_mode_stats``): ``modes`` is how
  many of the 1,000 triples occur, ``reverse_kl`` the KL divergence of the
  triples' histogram from uniform. VEEGAN and PacGAN count over 26,000 samples.
  """

  headline = METRICS

  def __init__(self, config: ml_collections.ConfigDict, *, generator, discriminator,
               dataset: StackedDigits, key: jax.Array, num_samples: int):
    del discriminator  # Judged by its samples alone.
    try:
      self._extractor = features.get("classifier")(config, dataset.digits)
    except features.Unavailable as e:
      raise UserError(f"dataset {dataset.name!r} has no digit classifier: {e}") from None
    if self._extractor.num_classes != NUM_DIGITS:
      raise UserError(f"dataset {dataset.name!r}: the digit classifier has "
                      f"{self._extractor.num_classes} classes, not {NUM_DIGITS}")
    self._z = latents(key, num_samples, config.latent_dim)
    self._sample = jax.jit(functools.partial(generate, generator))
    self.info = {"features": "stacked digits classifier",
                 "features_hash": self._extractor.hash, "num_fake": int(num_samples),
                 "digits": dataset.digits.name, "num_modes": NUM_DIGITS ** CHANNELS,
                 "classifier_test_accuracy": self._extractor.info["test_accuracy"]}

  def metric_names(self) -> tuple[str, ...]:
    return METRICS

  def generate(self, view: Inference) -> np.ndarray:
    """The evaluation's samples, uint8 [N, H, W, 3]."""
    (outputs,) = batched_apply(lambda z: (self._sample(view.generator, z),),
                               np.asarray(self._z), evaluation.SAMPLE_BATCH)
    return data.to_uint8(outputs)

  def __call__(self, view: Inference) -> dict:
    stats = evaluation.stacked_mnist_mode_stats(self._extractor, self.generate(view))
    return {"modes": int(stats["modes"]), "reverse_kl": float(stats["kl"])}

  def describe(self, values: dict) -> dict:
    """Per-metric records for eval.json."""
    return {name: {"value": value, "num_fake": self.info["num_fake"],
                   "features": self.info["features"], "features_hash": self.info["features_hash"]}
            for name, value in values.items()}


def _check_name(name: str) -> None:
  if not name[len(PREFIX):]:
    raise UserError(f"dataset {name!r} needs the digits to stack: stacked:SOURCE, e.g. "
                    "stacked:mnist_5k or stacked:npz:PATH")
  try:
    data.check_name(name[len(PREFIX):])
  except UserError as e:
    raise UserError(f"dataset {name!r}: {e}") from None


data.register_source("stacked", data.Source(
    load=load, usage="stacked:SOURCE", check=_check_name,
    metrics=METRICS, make_evaluator=StackedEvaluator))
