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

Step ``t`` (0 at the first step) uses ``schedule(t)``, as optax does. The
discriminator of an alternating run takes ``d_steps_per_g_step`` optax
updates per generator step; its schedule is evaluated at the generator step,
so both players follow the same curve.
"""

from __future__ import annotations

from typing import Any, Union

import ml_collections
import optax

from gan_jax import games

# The game-optimizer hyperparameters that are learning rates (see
# gan_jax.games.base: each takes a float or a schedule).
LR_HPARAMS = ("lr", "lr_x", "lr_y", "unroll_lr")

_NAMES = ("constant", "cosine", "warmup_cosine", "step")


def names() -> list[str]:
  return sorted(_NAMES)


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
  """
  name = config.lr_schedule
  if name not in _NAMES:
    raise ValueError(f"unknown lr_schedule {name!r}; known: {', '.join(names())}")
  if name == "constant":
    return peak_lr
  steps = max(config.num_steps, 1)
  fraction = config.lr_final_fraction
  warmup = config.lr_warmup_steps if name == "warmup_cosine" else 0
  if name == "step":
    scales: dict[int, float] = {}
    for boundary in config.lr_step_boundaries:
      at = int(round(boundary * config.num_steps))
      scales[at] = scales.get(at, 1.0) * config.lr_step_factor
    schedule = optax.piecewise_constant_schedule(peak_lr, scales)
  elif warmup == 0:
    schedule = optax.cosine_decay_schedule(peak_lr, steps, alpha=fraction)
  else:  # optax.warmup_cosine_decay_schedule, without its error when warmup >= num_steps.
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, peak_lr, warmup),
         optax.cosine_decay_schedule(peak_lr, max(steps - warmup, 1), alpha=fraction)],
        [warmup])
  if updates_per_step > 1:
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
