"""Learning-rate schedules, selected by ``config.lr_schedule``.

A run's schedule scales every learning rate it has: the per-player optax
optimizers' (``g_learning_rate``, ``d_learning_rate``; see
``gan_jax.optimizers``) and a game optimizer's learning-rate hyperparameters
(``lr``, ``lr_x``, ``lr_y``, ``unroll_lr``, configured or default, and those
of a lookahead's inner optimizer; see ``game_hparams``). Each configured
float is the schedule's peak. Schedules count generator steps:

  'constant'       the float itself (no schedule: a run is bit-identical to
                   one from before schedules existed).
  'cosine'         cosine decay from the peak to ``lr_final_fraction`` x peak
                   over ``num_steps`` (``optax.cosine_decay_schedule``).
  'warmup_cosine'  linear warmup from 0 to the peak over ``lr_warmup_steps``,
                   then cosine decay to ``lr_final_fraction`` x peak at
                   ``num_steps``.
  'step'           the peak, multiplied by ``lr_step_factor`` at each of
                   ``lr_step_boundaries``, fractions of ``num_steps`` (0.5:
                   half way), rounded to whole steps
                   (``optax.piecewise_constant_schedule``).

Step ``t`` (0 at the first step) uses ``schedule(t)``, as optax does. A
schedule of your own: ``schedules.register(name, factory)`` with
``factory(config, peak_lr) -> optax.Schedule``, then ``config.lr_schedule=name``. The
discriminator of an alternating run takes ``d_steps_per_g_step`` optax
updates per generator step; its schedule is evaluated at the generator step,
so both players follow the same curve.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import ml_collections
import optax

from gan_jax import games
from gan_jax.registry import Registry

# The game-optimizer hyperparameters that are learning rates (see
# gan_jax.games.base: each takes a float or a schedule).
LR_HPARAMS = ("lr", "lr_x", "lr_y", "unroll_lr")

# (config, peak learning rate) -> the float itself or an optax schedule of
# the generator step.
Factory = Callable[[ml_collections.ConfigDict, float], Union[float, optax.Schedule]]

_REGISTRY: Registry[Factory] = Registry("learning-rate schedule")


def register(name: str, factory: Optional[Factory] = None, *, overwrite: bool = False):
  """Adds ``factory(config, peak_lr) -> float or optax.Schedule`` as ``config.lr_schedule=name``.

  Without ``factory`` it returns a decorator (``@schedules.register(name)``).
  The schedule counts generator steps from 0; it may read any config key
  (``num_steps``, the ``lr_*`` keys of ``experiments/configs/default.py``).
  """
  return _REGISTRY.register(name, factory, overwrite=overwrite)


def names() -> list[str]:
  """The registered schedule names, sorted."""
  return _REGISTRY.names()


@register("constant")
def _constant(config: ml_collections.ConfigDict, peak_lr: float) -> float:
  del config
  return peak_lr


@register("cosine")
def _cosine(config: ml_collections.ConfigDict, peak_lr: float) -> optax.Schedule:
  return optax.cosine_decay_schedule(peak_lr, max(config.num_steps, 1),
                                     alpha=config.lr_final_fraction)


@register("warmup_cosine")
def _warmup_cosine(config: ml_collections.ConfigDict, peak_lr: float) -> optax.Schedule:
  warmup = config.lr_warmup_steps
  if warmup == 0:
    return _cosine(config, peak_lr)
  # optax.warmup_cosine_decay_schedule, without its error when warmup >= num_steps.
  decay = optax.cosine_decay_schedule(peak_lr, max(config.num_steps - warmup, 1),
                                      alpha=config.lr_final_fraction)
  return optax.join_schedules([optax.linear_schedule(0.0, peak_lr, warmup), decay], [warmup])


@register("step")
def _step(config: ml_collections.ConfigDict, peak_lr: float) -> optax.Schedule:
  scales: dict[int, float] = {}
  for boundary in config.lr_step_boundaries:
    at = int(round(boundary * config.num_steps))
    scales[at] = scales.get(at, 1.0) * config.lr_step_factor
  return optax.piecewise_constant_schedule(peak_lr, scales)


def make(config: ml_collections.ConfigDict, peak_lr: float,
         updates_per_step: int = 1) -> Union[float, optax.Schedule]:
  """``peak_lr`` under ``config.lr_schedule``: the float itself for 'constant'.

  Args:
    config: a validated run config.
    peak_lr: the configured learning rate, > 0.
    updates_per_step: how many times per generator step the schedule's user
      counts (the discriminator's optax state counts ``d_steps_per_g_step``
      updates a step); the schedule is evaluated at ``count //
      updates_per_step``.

  Returns:
    ``peak_lr`` for 'constant', else an ``optax.Schedule``.

  Raises:
    ValueError: an unknown schedule name.
  """
  schedule = _REGISTRY.get(config.lr_schedule)(config, peak_lr)
  if callable(schedule) and updates_per_step > 1:
    per_step = schedule
    schedule = lambda count: per_step(count // updates_per_step)
  return schedule


def _scheduled(config: ml_collections.ConfigDict, name: str,
               hparams: dict[str, Any]) -> dict[str, Any]:
  defaults = games.defaults(name)
  out = dict(hparams)
  for key in LR_HPARAMS:
    value = hparams.get(key, defaults.get(key))
    # None (unroll_lr: "use lr_y") follows lr_y's schedule inside the optimizer.
    if key in defaults and isinstance(value, (int, float)) and not isinstance(value, bool):
      out[key] = make(config, float(value))
  inner = hparams.get("inner", defaults.get("inner"))
  if name == "lookahead" and isinstance(inner, str):
    out["inner_hparams"] = _scheduled(config, inner, dict(hparams.get("inner_hparams") or {}))
  return out


def game_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """``config.game_hparams`` with every learning rate under the run's schedule.

  A learning rate left at its default is scheduled too (from the default as
  peak). With 'constant' the hyperparameters are returned unchanged.
  """
  hparams = config.game_hparams.to_dict()
  if config.lr_schedule == "constant":
    return hparams
  return _scheduled(config, config.game_optimizer, hparams)
