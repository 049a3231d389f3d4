"""Checks a run's config before anything is written.

The defaults live in ``experiments/configs/default.py``; this module only
knows each key's type and allowed range, so a typo or a bad value stops the
run with one line that names the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import ml_collections

from gan_jax import data, games, losses, networks, optimizers
from gan_jax.errors import UserError

Check = Callable[[Any], bool]


def _int(minimum: int) -> tuple[Check, str]:
  return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
          f"an integer >= {minimum}")


def _float(check: Check, allowed: str) -> tuple[Check, str]:
  return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and check(v), allowed)


def _name(known: Callable[[], list[str]]) -> tuple[Check, Callable[[], str]]:
  return (lambda v: v in known(), lambda: "one of " + ", ".join(known()))


def _dataset_ok(value: Any) -> bool:
  try:
    data.check_name(value)
  except UserError:
    return False
  return True


# key -> (check, description of the allowed values). Every key a config may have.
_SCHEMA: dict[str, tuple[Check, Any]] = {
    "seed": _int(0),
    "dataset": (lambda v: isinstance(v, str) and _dataset_ok(v), lambda: data.known_names()),
    "model": _name(networks.names),
    "latent_dim": _int(1),
    "hidden_dims": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0
                    and all(isinstance(w, int) and w > 0 for w in v),
                    "a non-empty tuple of positive integers"),
    "leaky_relu_slope": _float(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "loss": _name(losses.names),
    "optimizer": _name(optimizers.names),
    "game_optimizer": _name(lambda: ["none"] + games.names()),
    "game_hparams": (lambda v: isinstance(v, dict), "a dict of the game optimizer's settings"),
    "g_learning_rate": _float(lambda v: v > 0, "a number > 0"),
    "d_learning_rate": _float(lambda v: v > 0, "a number > 0"),
    "adam_b1": _float(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "adam_b2": _float(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "batch_size": _int(1),
    "d_steps_per_g_step": _int(1),
    "num_steps": _int(0),
    "steps_per_call": _int(1),
    "log_every": _int(1),
    "eval_every": _int(0),
    "sample_every": _int(0),
    "checkpoint_every": _int(0),
    "keep_checkpoints": _int(1),
    "num_eval_samples": _int(1),
    "progress_bar": (lambda v: isinstance(v, bool), "true or false"),
}

# Keys that may change when a run is resumed: they do not change what is
# computed at each step, only how long the run is and how often it reports.
RESUMABLE_KEYS = frozenset({"num_steps", "log_every", "eval_every", "sample_every",
                            "checkpoint_every", "keep_checkpoints", "progress_bar",
                            "steps_per_call"})


def known_keys() -> list[str]:
  return sorted(_SCHEMA)


def validate(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
  """Raises UserError on the first unknown key, missing key or bad value."""
  values = config.to_dict()
  unknown = sorted(set(values) - set(_SCHEMA))
  if unknown:
    raise UserError(f"unknown config key {unknown[0]!r}; known keys: {', '.join(known_keys())}")
  missing = sorted(set(_SCHEMA) - set(values))
  if missing:
    raise UserError(f"config is missing key {missing[0]!r}; start from "
                    "experiments/configs/default.py and override keys")
  for key, (check, allowed) in _SCHEMA.items():
    if not check(values[key]):
      allowed = allowed() if callable(allowed) else allowed
      raise UserError(f"config.{key}={values[key]!r} is not allowed; it must be {allowed}")
  if config.game_optimizer != "none":
    if config.d_steps_per_g_step != 1:
      raise UserError(f"config.d_steps_per_g_step={config.d_steps_per_g_step} must be 1 with "
                      f"config.game_optimizer={config.game_optimizer!r}: it moves both players at once")
    try:
      games.get(config.game_optimizer, **values["game_hparams"])
    except (ValueError, TypeError) as e:
      raise UserError(f"config.game_hparams: {e}") from None
  elif values["game_hparams"]:
    raise UserError("config.game_hparams is set but config.game_optimizer='none'; "
                    "choose one of " + ", ".join(games.names()))
  if config.batch_size % num_devices:
    raise UserError(f"config.batch_size={config.batch_size} must be divisible by the "
                    f"{num_devices} devices that share each batch")
  for key in ("num_steps", "log_every", "eval_every", "sample_every", "checkpoint_every"):
    if values[key] % config.steps_per_call:
      raise UserError(f"config.{key}={values[key]} must be a multiple of "
                      f"config.steps_per_call={config.steps_per_call}")


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def check_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a workdir whose config.json describes a different run."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} exists and is not a directory")
  if not os.path.exists(path):
    if os.path.isdir(workdir) and os.path.exists(os.path.join(workdir, "checkpoints")):
      raise UserError(f"workdir {workdir!r} holds checkpoints but no config.json; "
                      "use a new workdir")
    return
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise UserError(f"{path} is unreadable ({e}); use a new workdir") from None
  current = json.loads(to_json(config))
  differing = sorted(k for k in set(saved) | set(current)
                     if k not in RESUMABLE_KEYS and saved.get(k) != current.get(k))
  if differing:
    key = differing[0]
    raise UserError(
        f"workdir {workdir!r} holds a run with a different config ({key}: "
        f"{saved.get(key)!r} there, {current.get(key)!r} now); use a new workdir, or change only "
        f"{', '.join(sorted(RESUMABLE_KEYS))} to resume")
