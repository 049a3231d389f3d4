"""Trains a GAN on a 2-D Gaussian mixture and measures its mode coverage.

    python -m experiments.mog --dataset {ring,grid} --optimizer NAME --seed S \\
        --workdir DIR [--variant sharp] [--steps N] [--batch B] [--loss L] \\
        [--latent_dim K] [--g_hidden 128,128] [--d_hidden 128,128] \\
        [--negative_slope A] [--normalize {0,1}] [--lr_schedule 0:1,0.6:0.1] \\
        [--pack M] [--regularizer r1] [--regularizer_weight W] [--ema_decay D] \\
        [--hparams JSON] [--steps_per_call N] [--quiet]

``--optimizer`` is ``adam`` (the alternating per-player Adam update of
``make_train_step`` without a game optimizer, one D step then one G step) or
any name in ``gan_jax.games.names()``. Every setting not given on the command
line comes from the optimizer's row of ``SETTINGS`` below, changed by the
``--variant`` (``VARIANTS``: "sharp" for sharper samples at more cost,
"r1_ema" for sharp samples on every mode: R1 and a weight average);
``--hparams`` overrides single hyperparameters of the row (a JSON object).

The run uses the library's own path: ``gan_jax.state.create`` and
``gan_jax.train_step.make_train_step`` (with ``game=gan_jax.games.get(...)``),
fused with ``jax.lax.scan`` over ``steps_per_call`` steps per jitted call. The
real batch of step s is drawn on the device inside the scan from
``fold_in(data_key, s)``.

It writes to DIR:

* ``summary.json``: ``modes``, ``high_quality``, ``reverse_kl`` of 2,500
  generated samples (``gan_jax.metrics.mode_coverage.mixture_mode_stats``: a
  sample is high quality within 3 std of its nearest mode, a mode is captured
  with at least one high-quality sample), ``wall_s`` (seconds from the start
  of training to the end of the evaluation, compilation included), the
  settings and the final losses;
* ``samples.png``: the samples over the data and the modes;
* ``discriminator.png``: D's probability on a 2-D grid with the samples on top.

Bad arguments print one line ``error: ...`` on stderr and exit with status 2
before anything is written.

References:
  Lin et al. 2018, "PacGAN", section 5 and Table 1; Srivastava et al. 2017,
  "VEEGAN", Table 1 (the benchmark and its metrics).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import cli
from gan_jax import determinism
from gan_jax import games
from gan_jax import losses
from gan_jax import mixtures
from gan_jax import regularizers
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.metrics import mode_coverage
from gan_jax.networks import toy2d

BASELINE = "adam"
NUM_EVAL_SAMPLES = 2500
DATASETS = ("ring", "grid")
# fold_in tags that split the run's seed into independent streams.
_INIT, _DATA, _EVAL = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that defines a run besides the data set, optimizer and seed.

  Attributes:
    loss: a name in ``gan_jax.losses.names()``.
    steps: generator steps (= game steps) per data set name.
    batch: real and generated points per step.
    latent_dim: size of G's standard normal input.
    g_hidden: G's hidden widths.
    d_hidden: D's hidden widths.
    hparams: the game optimizer's hyperparameters (``gan_jax.games.get``), or
      for ``adam``: ``lr_g``, ``lr_d``, ``b1``, ``b2``, ``d_steps``.
    negative_slope: leaky ReLU slope of both networks (0: ReLU).
    normalize: scale G's output and D's input by the data's extent (the
      largest mode coordinate), i.e. train on data scaled into [-1, 1].
    lr_schedule: ``(fraction, factor)`` pairs: from ``fraction`` of the run
      on, every learning rate is ``factor`` times its value in ``hparams``.
    steps_per_call: steps fused into one jitted ``lax.scan``.
    pack: points D judges together (PacGAN's packing; 1: none). ``batch``
      must be a multiple of it.
    ema_decay: > 0 keeps an exponential moving average of G's weights
      (``StepOptions.ema_decay``) and evaluates and plots the averaged G.
    regularizer: a name in ``gan_jax.regularizers.names()`` added to D's
      loss, or "none".
    regularizer_weight: its weight (gamma of R1, lambda of WGAN-GP).
  """

  loss: str
  steps: Mapping[str, int]
  batch: int
  latent_dim: int
  g_hidden: tuple[int, ...]
  d_hidden: tuple[int, ...]
  hparams: Mapping[str, Any]
  negative_slope: float = 0.0
  normalize: bool = False
  lr_schedule: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
  steps_per_call: int = 1000
  pack: int = 1
  ema_decay: float = 0.0
  regularizer: str = "none"
  regularizer_weight: float = 0.0


_ADAM_HPARAMS = ("lr_g", "lr_d", "b1", "b2", "d_steps")

# The architecture every optimizer shares: 3 x 128 leaky-ReLU MLPs, a 2-D
# latent, G's output and D's input scaled by the data's extent (4 on the grid),
# batch 256, learning rates divided by 10 for the last 40% of the steps.
_COMMON = dict(latent_dim=2, g_hidden=(128, 128, 128), d_hidden=(128, 128, 128), batch=256,
               negative_slope=0.2, normalize=True, lr_schedule=((0.0, 1.0), (0.6, 0.1)))

# The per-optimizer defaults: the ONE table of settings.
#
# How they were chosen: short sweeps on the grid with tuning seeds 100-102
# (the results table reports seeds 0-4), 1-2 seeds per setting, so these are
# reasonable settings rather than optima.
# * Architecture (Adam, grid, 10k steps). 3 x 128 ReLU at lr 5e-4: 15-16
#   modes, 69-77% high quality (HQ). Wider (3 x 256), deeper (4 x 128), an
#   8-D latent, batch 1024 or 3 D steps per G step were no better. Scaling G's
#   output and D's input by the data's extent: 18-21 modes; with leaky ReLU:
#   22-24 modes but 42-54% HQ; with the final learning-rate drop: 22-23
#   modes, 55-62% HQ, and at lr 1e-3 22-23 modes, 69-73% HQ. (ReLU with the
#   drop: 19-22 modes, 80-82% HQ; leaky ReLU was kept for coverage.) 3 x 64
#   was cheaper but worse (ACGD: 21 modes against 24-25 with 3 x 128).
# * Learning rates. Adam from {2e-4, 5e-4, 1e-3, 2e-3}: 1e-3 (lower rates
#   stayed blurred, 2e-3 lost modes); extra_adam from {3e-4, 5e-4, 1e-3}:
#   1e-3; lookahead wraps extra_adam with its rate (not tuned further). SGD
#   steps from {0.01, 0.02, 0.05, 0.2} with simultaneous/alternating GDA and
#   extragradient: 0.05 (0.2 diverged, 0.01-0.02 barely sharpened); optimistic
#   GDA, consensus, SGA and unrolled use the same rate, not tuned further.
#   CGD from {0.05, 0.1, 0.2}: all 18-20 modes with < 7% HQ; 0.1. ACGD from
#   {3e-4, 1e-3, 3e-3}: 1e-3 (24-25 modes, 34-62% HQ; 3e-3 collapsed to 2
#   modes on one seed).
# * Losses: CGD/ACGD's linear system is only SPD for a zero-sum game, so they
#   play the minimax loss; the others use the non-saturating G loss.
# * CG: at most 5 iterations (tol 1e-4): ACGD averaged 7.7 iterations when
#   allowed 10, and 5 cost 30% less time for a relative residual of ~0.06.
# * Steps: a budget of minutes per run on a 2-core CPU, so the optimizers
#   that cost several gradient evaluations per step get fewer steps; the ring
#   gets half the grid's steps.
SETTINGS: dict[str, Settings] = {
    BASELINE: Settings(loss="non_saturating", steps={"ring": 5000, "grid": 10000},
                       hparams=dict(lr_g=1e-3, lr_d=1e-3, b1=0.5, b2=0.999, d_steps=1),
                       **_COMMON),
    "simultaneous_gda": Settings(loss="non_saturating", steps={"ring": 5000, "grid": 10000},
                                 hparams=dict(lr_x=0.05, lr_y=0.05), **_COMMON),
    "alternating_gda": Settings(loss="non_saturating", steps={"ring": 5000, "grid": 10000},
                                hparams=dict(lr_x=0.05, lr_y=0.05), **_COMMON),
    "optimistic_gda": Settings(loss="non_saturating", steps={"ring": 5000, "grid": 10000},
                               hparams=dict(lr_x=0.05, lr_y=0.05), **_COMMON),
    "extragradient": Settings(loss="non_saturating", steps={"ring": 3000, "grid": 6000},
                              hparams=dict(lr_x=0.05, lr_y=0.05), **_COMMON),
    "extra_adam": Settings(loss="non_saturating", steps={"ring": 3000, "grid": 6000},
                           hparams=dict(lr_x=1e-3, lr_y=1e-3, b1=0.5, b2=0.999), **_COMMON),
    "lookahead": Settings(loss="non_saturating", steps={"ring": 3000, "grid": 6000},
                          hparams=dict(inner="extra_adam", k=5, alpha=0.5,
                                       inner_hparams=dict(lr_x=1e-3, lr_y=1e-3, b1=0.5,
                                                          b2=0.999)), **_COMMON),
    "consensus": Settings(loss="non_saturating", steps={"ring": 2500, "grid": 5000},
                          hparams=dict(lr_x=0.05, lr_y=0.05, gamma=0.1), **_COMMON),
    "sga": Settings(loss="non_saturating", steps={"ring": 2500, "grid": 5000},
                    hparams=dict(lr_x=0.05, lr_y=0.05, lam=1.0), **_COMMON),
    "unrolled": Settings(loss="non_saturating", steps={"ring": 2000, "grid": 4000},
                         hparams=dict(lr_x=0.05, lr_y=0.05, unroll_steps=5), **_COMMON),
    "cgd": Settings(loss="minimax", steps={"ring": 2000, "grid": 4000},
                    hparams=dict(lr=0.1, cg_tol=1e-4, cg_max_iters=5), **_COMMON),
    "acgd": Settings(loss="minimax", steps={"ring": 5000, "grid": 10000},
                     hparams=dict(lr=1e-3, cg_tol=1e-4, cg_max_iters=5), **_COMMON),
}


# Named changes applied to every optimizer's row (``--variant``). "default"
# is the row itself. "sharp" trades run time for sharper samples: ReLU (the
# leaky ReLU's negative slope keeps mass between the modes), a 3 x 256 G,
# batch 512, twice the steps and a learning rate cut to 1/10 at half of the
# run and to 1/100 at 80%. Found with Adam on the grid's tuning seeds 100-102
# (20,000 steps, 1 seed per setting): the ReLU with the three-phase cut
# reached 95-96% high quality (HQ) but 19-25 modes; batch 512 balanced the
# modes (reverse KL 0.06 on seed 100); the 3 x 256 G recovered modes (24 and
# 22 against 22 and 16 with 3 x 128 on seeds 101, 102). No better: packing
# D's input (PacGAN, 2 and 4 points: 21-24 modes, 32-90% HQ), an 8-D latent,
# negative slopes 0.05 and 0.1, a 4 x 400 G (12 modes on seed 102). Over
# seeds 0-4 (benchmarks/mog_sharp): Adam 22.0 modes, 96.6% HQ; Extra-Adam
# 24.6 modes, 95.4% HQ.
#
# "r1_ema" is "sharp" made to converge: D pays the R1 penalty (gamma 0.1;
# Mescheder et al. 2018, "Which Training Methods for GANs do actually
# Converge?") and the evaluated G is an average of its weights (decay 0.999;
# Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN
# Training"), at a constant learning rate. Found with Extra-Adam on tuning
# seed 100, evaluated every 2,000 steps at the constant rate: from step 8,000
# to 24,000, sharp without either oscillated (20-25 modes, reverse KL
# 0.14-0.41) and the average alone did not settle (KL 0.12-0.37); R1 gamma 1
# with the average held 25 modes and KL < 0.012 at 89-96% HQ, gamma 0.1 with
# the average (to step 20,000) 25 modes, KL < 0.012 and 94-98% HQ.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "sharp": dict(negative_slope=0.0, batch=512, g_hidden=(256, 256, 256),
                  lr_schedule=((0.0, 1.0), (0.5, 0.1), (0.8, 0.01)), steps_factor=2),
    "r1_ema": dict(negative_slope=0.0, batch=512, g_hidden=(256, 256, 256),
                   lr_schedule=((0.0, 1.0),), regularizer="r1", regularizer_weight=0.1,
                   ema_decay=0.999, steps_factor=2),
}


def optimizer_names() -> list[str]:
  """``adam`` and every registered game optimizer."""
  return [BASELINE] + games.names()


def default_settings(optimizer: str, variant: str = "default") -> Settings:
  """The row of ``SETTINGS`` for ``optimizer``, changed by ``VARIANTS[variant]``.

  A variant's fields replace the row's; its ``steps_factor`` multiplies the
  row's steps.

  Raises:
    ValueError: for an unknown optimizer or variant, or a registered game
      optimizer that has no row (e.g. one added in a notebook: give it one
      with ``SETTINGS[name] = Settings(...)``).
  """
  if optimizer not in optimizer_names():
    raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(optimizer_names())}")
  if optimizer not in SETTINGS:
    raise ValueError(f"optimizer {optimizer!r} has no row in experiments.mog.SETTINGS")
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
  changes = dict(VARIANTS[variant])
  factor = changes.pop("steps_factor", 1)
  row = SETTINGS[optimizer]
  return dataclasses.replace(row, steps={name: factor * n for name, n in row.steps.items()},
                             **changes)


def _check_int(name: str, value: Any, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
  return value


def build_optimizer(optimizer: str, settings: Settings):
  """The pieces the optimizer contributes to ``state.create`` and the step.

  Returns:
    ``(g_tx, d_tx, game)``: for ``adam`` two optax Adams and ``game=None``;
    for a game optimizer two unused identity transforms and the
    GameOptimizer.

  Raises:
    ValueError: for unknown or invalid hyperparameters.
  """
  hparams = dict(settings.hparams)
  if optimizer == BASELINE:
    unknown = sorted(set(hparams) - set(_ADAM_HPARAMS))
    missing = sorted(set(_ADAM_HPARAMS) - set(hparams))
    if unknown or missing:
      raise ValueError(f"adam needs exactly the hyperparameters {', '.join(_ADAM_HPARAMS)}; "
                       f"unknown: {unknown}, missing: {missing}")
    for key in ("lr_g", "lr_d"):
      games.base.check_positive(BASELINE, key, hparams[key])
    games.base.check_int(BASELINE, "d_steps", hparams["d_steps"], 1)
    for key in ("b1", "b2"):
      games.base.check_interval(BASELINE, key, hparams[key], 0.0, 1.0, include_low=True,
                                include_high=False)
    g_tx = optax.adam(hparams["lr_g"], b1=hparams["b1"], b2=hparams["b2"])
    d_tx = optax.adam(hparams["lr_d"], b1=hparams["b1"], b2=hparams["b2"])
    return g_tx, d_tx, None
  return optax.identity(), optax.identity(), games.get(optimizer, **hparams)


def check_settings(optimizer: str, settings: Settings, datasets: Sequence[str] = ()) -> None:
  """Validates ``settings`` (with steps for ``datasets``) before anything runs.

  Raises:
    ValueError: with a one-line message.
  """
  losses.get(settings.loss)
  if not isinstance(settings.steps, Mapping) or not settings.steps:
    raise ValueError(f"steps must map data set names to step counts, got {settings.steps!r}")
  for name, steps in settings.steps.items():
    mixtures.get(name)
    _check_int(f"steps for {name}", steps, 1)
  for name in datasets:
    if name not in settings.steps:
      raise ValueError(f"settings have no step count for data set {name!r}")
  _check_int("batch", settings.batch, 1)
  _check_int("latent_dim", settings.latent_dim, 1)
  _check_int("steps_per_call", settings.steps_per_call, 1)
  _check_int("pack", settings.pack, 1)
  if settings.batch % settings.pack:
    raise ValueError(f"batch must be a multiple of pack, got batch {settings.batch} "
                     f"and pack {settings.pack}")
  for name in ("g_hidden", "d_hidden"):
    widths = getattr(settings, name)
    if not isinstance(widths, tuple) or not widths:
      raise ValueError(f"{name} must be a non-empty list of widths, got {widths!r}")
    for width in widths:
      _check_int(f"{name} width", width, 1)
  games.base.check_interval("settings", "negative_slope", settings.negative_slope, 0.0, 1.0,
                            include_low=True, include_high=False)
  games.base.check_bool("settings", "normalize", settings.normalize)
  step_options(settings)
  schedule = settings.lr_schedule
  fractions = [f for f, _ in schedule]
  if (not schedule or fractions[0] != 0.0 or any(b <= a for a, b in zip(fractions, fractions[1:]))
      or fractions[-1] >= 1.0 or any(not (math.isfinite(c) and c > 0) for _, c in schedule)):
    raise ValueError("lr_schedule must start at fraction 0, increase strictly below 1 and "
                     f"have finite factors > 0, got {schedule!r}")
  build_optimizer(optimizer, settings)


def step_options(settings: Settings) -> train_step_lib.StepOptions:
  """The step's EMA and regularizer settings.

  Raises:
    ValueError: for an EMA decay outside [0, 1), an unknown regularizer or a
      weight that is not a finite number >= 0.
  """
  decay = games.base.check_interval("settings", "ema_decay", settings.ema_decay, 0.0, 1.0,
                                    include_low=True, include_high=False)
  weight = games.base.check_real("settings", "regularizer_weight", settings.regularizer_weight)
  if weight < 0:
    raise ValueError(f"settings: regularizer_weight must be a finite number >= 0, got {weight!r}")
  regularizer = None if settings.regularizer == "none" else regularizers.get(settings.regularizer)
  return train_step_lib.StepOptions(ema_decay=decay, regularizer=regularizer,
                                    regularizer_weight=weight)


def data_scale(mixture: mixtures.Mixture) -> float:
  """The largest coordinate of any mode (1 for the ring, 4 for the grid)."""
  return float(np.max(np.abs(mixture.modes)))


def make_networks(settings: Settings, mixture: mixtures.Mixture):
  """The generator and discriminator modules."""
  scale = data_scale(mixture) if settings.normalize else 1.0
  return (toy2d.Toy2DGenerator(hidden_dims=settings.g_hidden, out_dim=2,
                               negative_slope=settings.negative_slope, scale=scale),
          toy2d.Toy2DDiscriminator(hidden_dims=settings.d_hidden,
                                   negative_slope=settings.negative_slope, scale=scale,
                                   pack=settings.pack))


def make_train_loop(step_fn, mixture: mixtures.Mixture, batch: int, d_steps: int,
                    length: int):
  """``length`` training steps in one jitted ``lax.scan``.

  Args:
    step_fn: ``train_step(state, batch)`` from ``make_train_step``.
    mixture: the data distribution.
    batch: real points per discriminator step.
    d_steps: discriminator steps per generator step (1 for game optimizers).
    length: steps per call (static).

  Returns:
    ``loop(state, data_key) -> (state, metrics)``, jitted with the state
    donated; step s draws its real batch from ``fold_in(data_key, s)``;
    metrics have a leading [length] axis.
  """
  modes = jnp.asarray(mixture.modes, jnp.float32)

  def loop(state, data_key):
    def body(state, _):
      real = mixtures.sample_mixture(jax.random.fold_in(data_key, state.step), modes,
                                     mixture.std, d_steps * batch)
      return step_fn(state, {"image": real.reshape(d_steps, batch, -1)})

    return jax.lax.scan(body, state, None, length=length)

  return jax.jit(loop, donate_argnums=(0,))


def evaluate(samples: np.ndarray, mixture: mixtures.Mixture) -> dict[str, Any]:
  """Mode statistics of ``samples``; a run whose samples are not finite scores 0."""
  if not np.all(np.isfinite(samples)):
    return {"modes": 0, "high_quality": 0.0, "reverse_kl": float("nan")}
  return mode_coverage.mixture_mode_stats(samples, mixture.modes, mixture.std)


class _Phase:
  """What one learning-rate phase of a run compiles, shared by all seeds.

  The jitted loops are kept so that later seeds of the same settings reuse
  the compiled code: they must see the same optax objects (static fields of
  the state) and the same step function.
  """

  def __init__(self, dataset: str, optimizer: str, settings: Settings, factor: float):
    mixture = mixtures.get(dataset)
    self.generator, self.discriminator = make_networks(settings, mixture)
    phase = dataclasses.replace(settings, hparams=scale_learning_rates(settings.hparams, factor))
    self.g_tx, self.d_tx, self.game = build_optimizer(optimizer, phase)
    self.step_fn = train_step_lib.make_train_step(
        generator=self.generator, discriminator=self.discriminator,
        loss=losses.get(settings.loss), latent_dim=settings.latent_dim, game=self.game,
        options=step_options(settings))
    self.generate = jax.jit(self.generator.apply)
    self._mixture = mixture
    self._batch = settings.batch
    self._d_steps = settings.hparams["d_steps"] if optimizer == BASELINE else 1
    self._loops: dict[int, Any] = {}

  def loop(self, length: int):
    """The jitted loop of ``length`` steps (see ``make_train_loop``)."""
    if length not in self._loops:
      self._loops[length] = make_train_loop(self.step_fn, self._mixture, self._batch,
                                            self._d_steps, length)
    return self._loops[length]


_PHASES: dict[str, _Phase] = {}


def _phase(dataset: str, optimizer: str, settings: Settings, factor: float) -> _Phase:
  record = settings_to_json(settings)
  del record["steps"]  # The compiled code does not depend on the run's length.
  key = json.dumps([dataset, optimizer, record, factor], sort_keys=True)
  if key not in _PHASES:
    _PHASES[key] = _Phase(dataset, optimizer, settings, factor)
  return _PHASES[key]


def clear_compiled() -> None:
  """Forgets the compiled loops kept for later seeds (frees their memory)."""
  _PHASES.clear()


LR_KEYS = ("lr", "lr_x", "lr_y", "lr_g", "lr_d", "unroll_lr")


def scale_learning_rates(hparams: Mapping[str, Any], factor: float) -> dict[str, Any]:
  """``hparams`` with every learning rate (``LR_KEYS``, also inside a
  lookahead's ``inner_hparams``) multiplied by ``factor``."""
  out = {}
  for key, value in hparams.items():
    if key in LR_KEYS and value is not None:
      value = value * factor
    elif key == "inner_hparams" and value is not None:
      value = scale_learning_rates(value, factor)
    out[key] = value
  return out


def lr_phases(settings: Settings, steps: int) -> list[tuple[int, int, float]]:
  """``(first_step, end_step, lr_factor)`` of each phase of a run of ``steps``."""
  bounds = [round(f * steps) for f, _ in settings.lr_schedule] + [steps]
  return [(bounds[i], bounds[i + 1], factor)
          for i, (_, factor) in enumerate(settings.lr_schedule) if bounds[i + 1] > bounds[i]]


def train(dataset: str, optimizer: str, seed: int, settings: Settings,
          log=None) -> dict[str, Any]:
  """Trains and evaluates one run.

  Args:
    dataset: a name in ``gan_jax.mixtures.names()``.
    optimizer: ``adam`` or a name in ``gan_jax.games.names()``.
    seed: the run's seed; the initialisation, the data and the evaluation
      latents use keys folded in from ``PRNGKey(seed)``.
    settings: the run's settings (validated by ``check_settings``).
    log: optional ``print``-like callable for progress lines.

  Returns:
    A dict with the summary (see the module docstring) and, under the keys
    ``_generator``, ``_discriminator``, ``_state`` and ``_samples``, the
    modules, the final state and the evaluation samples (for plotting; not
    JSON).
  """
  mixture = mixtures.get(dataset)
  steps = settings.steps[dataset]
  phases = [(end, factor, _phase(dataset, optimizer, settings, factor))
            for _, end, factor in lr_phases(settings, steps)]
  generator, discriminator = phases[0][2].generator, phases[0][2].discriminator
  root = jax.random.PRNGKey(seed)
  start = time.perf_counter()
  state = state_lib.create(rng=jax.random.fold_in(root, _INIT), generator=generator,
                           discriminator=discriminator, g_tx=phases[0][2].g_tx,
                           d_tx=phases[0][2].d_tx, latent_dim=settings.latent_dim,
                           image_shape=(2,), game=phases[0][2].game,
                           init_batch=settings.pack, ema=settings.ema_decay > 0)
  # Some game states alias the parameters (lookahead's slow weights start as
  # the same arrays); one copy per leaf lets the loop donate the state.
  state = jax.tree.map(jnp.copy, state)
  data_key = jax.random.fold_in(root, _DATA)
  history = []
  done = 0
  finite = True
  for phase_end, factor, phase in phases:
    # The optimizer of each phase has scaled learning rates; its state
    # (moments, CG warm start) carries over, as its structure does not depend
    # on the learning rates. The optax transforms are static fields of the
    # state, so they are swapped in.
    state = state.replace(g=state.g.replace(tx=phase.g_tx), d=state.d.replace(tx=phase.d_tx))
    while finite and done < phase_end:
      length = min(settings.steps_per_call, phase_end - done)
      state, metrics = phase.loop(length)(state, data_key)
      done += length
      record = {"step": done, "lr_factor": factor,
                **{k: float(jnp.mean(v)) for k, v in metrics.items()}}
      history.append(record)
      if log is not None:
        log(f"step {done}: d_loss {record['d_loss']:.4f} g_loss {record['g_loss']:.4f}")
      finite = record["finite"] == 1.0  # Diverged: later steps would only carry NaNs.
  z = train_step_lib.latents(jax.random.fold_in(root, _EVAL), NUM_EVAL_SAMPLES,
                             settings.latent_dim)
  samples = np.asarray(phases[0][2].generate(state_lib.generator_variables(state), z),
                       np.float64)
  stats = evaluate(samples, mixture)
  wall_s = time.perf_counter() - start
  summary = {
      "dataset": dataset, "optimizer": optimizer, "seed": seed,
      "steps": steps, "steps_done": done,
      "modes": stats["modes"], "num_modes": int(mixture.modes.shape[0]),
      "high_quality": stats["high_quality"], "reverse_kl": stats["reverse_kl"],
      "finite": bool(finite and np.all(np.isfinite(samples))),
      "wall_s": wall_s,
      "settings": settings_to_json(settings),
      "hparams": dict(settings.hparams),
      "final_metrics": history[-1],
  }
  return dict(summary, _generator=generator, _discriminator=discriminator, _state=state,
              _samples=samples, _history=history)


def settings_to_json(settings: Settings) -> dict[str, Any]:
  out = dataclasses.asdict(settings)
  out["g_hidden"], out["d_hidden"] = list(settings.g_hidden), list(settings.d_hidden)
  out["hparams"] = dict(settings.hparams)
  return out


def json_safe(value: Any) -> Any:
  """NaN -> None, recursively, so that summary.json is strict JSON."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  return value


def plot_extent(mixture: mixtures.Mixture) -> float:
  """Half-width of the square the plots show: 1.5 times the farthest mode."""
  return 1.5 * float(np.max(np.abs(mixture.modes)))


def save_samples_png(path: str, samples: np.ndarray, data: np.ndarray,
                     mixture: mixtures.Mixture, title: str) -> None:
  """Scatter of the samples (blue) over data points (grey) and modes (red x)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  lim = plot_extent(mixture)
  fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
  ax.scatter(data[:, 0], data[:, 1], s=2, c="0.7", label="data")
  ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.5, label="G(z)")
  ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], s=20, c="tab:red", marker="x",
             label="modes")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect("equal")
  ax.set_title(title, fontsize=8)
  ax.legend(loc="upper right", fontsize=6, markerscale=3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def discriminator_grid(discriminator, d_params, lim: float, resolution: int = 120):
  """D's probability sigmoid(D(p)) on a resolution^2 grid over [-lim, lim]^2.

  A packed D (``pack = m``) is shown on packs of m copies of the same point.
  """
  axis = np.linspace(-lim, lim, resolution, dtype=np.float32)
  xs, ys = np.meshgrid(axis, axis, indexing="xy")
  points = np.stack([xs.ravel(), ys.ravel()], axis=1)
  pack = getattr(discriminator, "pack", 1)
  logits = jax.jit(discriminator.apply)(d_params, jnp.asarray(np.repeat(points, pack, axis=0)))
  prob = jax.nn.sigmoid(logits[::pack])
  return axis, np.asarray(prob).reshape(resolution, resolution)


def save_discriminator_png(path: str, discriminator, d_params, samples: np.ndarray,
                           mixture: mixtures.Mixture, title: str) -> None:
  """D's probability as an image with the samples and the modes on top."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  lim = plot_extent(mixture)
  _, prob = discriminator_grid(discriminator, d_params, lim)
  fig, ax = plt.subplots(figsize=(4.6, 4), dpi=80)
  image = ax.imshow(prob, origin="lower", extent=(-lim, lim, -lim, lim), cmap="RdBu_r",
                    vmin=0.0, vmax=1.0)
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="D(x)")
  ax.scatter(samples[:, 0], samples[:, 1], s=1, c="k", alpha=0.5)
  ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], s=20, c="yellow", marker="x")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_title(title, fontsize=8)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def write_run(workdir: str, result: dict[str, Any]) -> dict[str, Any]:
  """Writes summary.json, metrics.jsonl and the two PNGs; returns the summary."""
  os.makedirs(workdir, exist_ok=True)
  summary = json_safe({k: v for k, v in result.items() if not k.startswith("_")})
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for record in result["_history"]:
      f.write(json.dumps(json_safe(record)) + "\n")
  mixture = mixtures.get(result["dataset"])
  title = (f"{result['dataset']} / {result['optimizer']} / seed {result['seed']}: "
           f"{result['modes']}/{result['num_modes']} modes, "
           f"{100 * result['high_quality']:.1f}% HQ, KL {result['reverse_kl']:.3f}")
  samples = result["_samples"]
  if np.all(np.isfinite(samples)):
    data_key = jax.random.fold_in(jax.random.PRNGKey(result["seed"]), _EVAL + 1)
    data = np.asarray(mixtures.sample(data_key, mixture, NUM_EVAL_SAMPLES))
    save_samples_png(os.path.join(workdir, "samples.png"), samples, data, mixture, title)
    save_discriminator_png(os.path.join(workdir, "discriminator.png"), result["_discriminator"],
                           result["_state"].d.params, samples, mixture, title)
  return summary


def _widths(text: str) -> tuple[int, ...]:
  try:
    widths = tuple(int(w) for w in text.split(","))
  except ValueError:
    raise ValueError(f"widths must be comma-separated integers, got {text!r}") from None
  return widths


def _schedule(text: str) -> tuple[tuple[float, float], ...]:
  try:
    phases = tuple(tuple(float(v) for v in item.split(":")) for item in text.split(","))
  except ValueError:
    raise ValueError(f"--lr_schedule must look like 0:1,0.6:0.1, got {text!r}") from None
  if any(len(p) != 2 for p in phases):
    raise ValueError(f"--lr_schedule must look like 0:1,0.6:0.1, got {text!r}")
  return phases


def resolve_settings(optimizer: str, args: argparse.Namespace) -> Settings:
  """The optimizer's row of ``SETTINGS`` (and variant) with the command line's overrides."""
  settings = default_settings(optimizer, args.variant)
  overrides: dict[str, Any] = {}
  if args.steps is not None:
    overrides["steps"] = {args.dataset: args.steps}
  for name in ("batch", "latent_dim", "loss", "steps_per_call", "negative_slope", "pack",
               "ema_decay", "regularizer", "regularizer_weight"):
    value = getattr(args, name)
    if value is not None:
      overrides[name] = value
  for name in ("g_hidden", "d_hidden"):
    if getattr(args, name) is not None:
      overrides[name] = _widths(getattr(args, name))
  if args.lr_schedule is not None:
    overrides["lr_schedule"] = _schedule(args.lr_schedule)
  if args.normalize is not None:
    overrides["normalize"] = bool(args.normalize)
  if args.hparams is not None:
    try:
      extra = json.loads(args.hparams)
    except json.JSONDecodeError as e:
      raise ValueError(f"--hparams is not valid JSON ({e})") from None
    if not isinstance(extra, dict):
      raise ValueError(f"--hparams must be a JSON object, got {args.hparams!r}")
    overrides["hparams"] = dict(settings.hparams, **extra)
  settings = dataclasses.replace(settings, **overrides)
  check_settings(optimizer, settings, (args.dataset,))
  return settings


def make_parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m experiments.mog", description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", required=True, choices=mixtures.names())
  parser.add_argument("--optimizer", required=True,
                      help=f"one of {', '.join(optimizer_names())}")
  parser.add_argument("--seed", type=int, required=True)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--variant", default="default",
                      help=f"changes to the optimizer's settings row: one of {', '.join(VARIANTS)}")
  parser.add_argument("--steps", type=int, help="steps of this run (default: the table's)")
  parser.add_argument("--batch", type=int)
  parser.add_argument("--latent_dim", type=int)
  parser.add_argument("--loss", help=f"one of {', '.join(losses.names())}")
  parser.add_argument("--g_hidden", help="G's hidden widths, e.g. 128,128")
  parser.add_argument("--d_hidden", help="D's hidden widths, e.g. 128,128")
  parser.add_argument("--hparams",
                      help='JSON object of optimizer hyperparameters, e.g. {"lr": 0.01}')
  parser.add_argument("--steps_per_call", type=int)
  parser.add_argument("--negative_slope", type=float)
  parser.add_argument("--pack", type=int, help="points the discriminator judges together "
                                               "(PacGAN; batch must be a multiple)")
  parser.add_argument("--normalize", type=int, choices=(0, 1))
  parser.add_argument("--regularizer",
                      help=f"penalty on D: none or one of {', '.join(regularizers.names())}")
  parser.add_argument("--regularizer_weight", type=float, help="its weight, e.g. R1's gamma")
  parser.add_argument("--ema_decay", type=float,
                      help="decay of an average of G's weights that is evaluated (0: none)")
  parser.add_argument("--lr_schedule",
                      help="FRACTION:FACTOR,... learning-rate factors from fractions of the run, "
                           "e.g. 0:1,0.6:0.1")
  parser.add_argument("--quiet", action="store_true", help="no progress lines")
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = make_parser().parse_args(argv)
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  try:
    settings = resolve_settings(args.optimizer, args)
  except ValueError as e:
    print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
    return 2
  log = None if args.quiet else (lambda line: print(line, flush=True))
  result = train(args.dataset, args.optimizer, args.seed, settings, log=log)
  summary = write_run(args.workdir, result)
  print(f"{args.dataset} {args.optimizer} seed {args.seed}: {summary['modes']}/"
        f"{summary['num_modes']} modes, high quality {summary['high_quality']:.3f}, "
        f"reverse KL {summary['reverse_kl']}, {summary['wall_s']:.1f} s", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
