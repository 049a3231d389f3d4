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

from gan_jax import (augment, data, evaluation, families, features, games, losses, networks,
                     optimizers, regularizers, schedules, train_step)
from gan_jax.networks import layers
from gan_jax.errors import UserError, did_you_mean
from gan_jax.registry import parse_imports

Check = Callable[[Any], bool]

# jax.random.PRNGKey(seed) keeps the low 32 bits (without jax_enable_x64):
# 2**32 would give seed 0's key, so larger seeds are refused.
MAX_SEED = 2**32 - 1


def _int(minimum: int) -> tuple[Check, str]:
  return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
          f"an integer >= {minimum}")


def _int_range(minimum: int, maximum: int, why: str) -> tuple[Check, str]:
  return (lambda v: isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= maximum,
          f"an integer in [{minimum}, {maximum}] ({why})")


def _float(check: Check, allowed: str) -> tuple[Check, str]:
  return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and check(v), allowed)


def _name(known: Callable[[], list[str]]) -> tuple[Check, Callable[[], str]]:
  return (lambda v: v in known(), lambda: "one of " + ", ".join(known()))


def _metric_names() -> tuple[str, ...]:
  """What an evaluation can compute: the image metrics and the data sources' own."""
  return evaluation.METRIC_NAMES + data.source_metrics()


def _policy_ok(value: str) -> bool:
  try:
    augment.parse_policy(value)
  except ValueError:
    return False
  return True


def _imports_ok(value: Any) -> bool:
  try:
    parse_imports(value)
  except UserError:
    return False
  return True


def _dataset_ok(value: Any) -> bool:
  try:
    data.check_name(value)
  except UserError:
    return False
  return True


# key -> (check, description of the allowed values). Every key a config may have.
_SCHEMA: dict[str, tuple[Check, Any]] = {
    "seed": _int_range(0, MAX_SEED, "jax.random.PRNGKey keeps 32 bits of a seed"),
    # Modules the commands import before checking the config (gan_jax.registry).
    "imports": (lambda v: isinstance(v, str) and _imports_ok(v),
                "a comma-separated string of Python module names, or ''"),
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
    "parallelism": _name(lambda: list(train_step.PARALLELISM)),
    "d_steps_per_g_step": _int(1),
    "num_steps": _int(1),
    "steps_per_call": _int(1),
    "log_every": _int(1),
    "eval_every": _int(0),
    "sample_every": _int(0),
    "checkpoint_every": _int(0),
    "keep_checkpoints": _int(1),
    "num_eval_samples": _int(1),
    "progress_bar": (lambda v: isinstance(v, bool), "true or false"),
    # The best checkpoint (gan_jax.train): by which evaluation metric, lower or higher.
    "best_metric": (lambda v: v == "" or v in _metric_names(),
                    lambda: "'' (off) or one of " + ", ".join(_metric_names())),
    "best_mode": _name(lambda: ["min", "max"]),
    # Evaluation (gan_jax.evaluation, gan_jax.features).
    "eval_features": _name(features.names),
    "eval_classifier_cache_dir": (lambda v: isinstance(v, str) and v != "", "a directory path"),
    "eval_inception_weights": (lambda v: isinstance(v, str), "a path to an .npz, or ''"),
    # The GAN zoo: architectures, losses, regularizers and stabilizers.
    "width": _int(1),
    "upsample": _name(layers.upsample_names),
    "conv_impl": _name(layers.conv_impl_names),
    "image_size": _int(0),
    "image_channels": (lambda v: v in (0, 1, 3) and not isinstance(v, bool),
                       "0 (the data's own), 1 (grayscale) or 3 (RGB)"),
    "conditioning": _name(lambda: list(layers.CONDITIONING)),
    "num_classes": _int(2),
    "aux_classifier_weight": _float(lambda v: v >= 0, "a number >= 0"),
    "aux_classifier_on_fakes": (lambda v: isinstance(v, bool), "true or false"),
    "label_smoothing": _float(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "regularizer": _name(lambda: ["none"] + regularizers.names()),
    "regularizer_weight": _float(lambda v: v >= 0, "a number >= 0"),
    "regularizer_every": _int(1),
    "spectral_norm": (lambda v: isinstance(v, bool), "true or false"),
    "diffaugment": (lambda v: isinstance(v, str) and _policy_ok(v),
                    lambda: "'' or a comma-separated list of " + ", ".join(augment.names())),
    "g_ema_decay": _float(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "grad_clip_norm": _float(lambda v: v >= 0, "a number >= 0 (0: off)"),
    # Learning-rate schedules (gan_jax.schedules).
    "lr_schedule": _name(schedules.names),
    "lr_warmup_steps": _int(0),
    "lr_final_fraction": _float(lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "lr_step_boundaries": (
        lambda v: isinstance(v, (tuple, list))
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < 1 for b in v)
        and all(a < b for a, b in zip(v, v[1:])),
        "an increasing tuple of numbers in (0, 1), fractions of num_steps"),
    "lr_step_factor": _float(lambda v: 0 < v < float("inf"), "a number > 0"),
}

# Keys that may change when a run is resumed: they do not change what is
# computed at each step, only how long the run is and how often it reports.
RESUMABLE_KEYS = frozenset({"num_steps", "log_every", "eval_every", "sample_every",
                            "checkpoint_every", "keep_checkpoints", "progress_bar",
                            "steps_per_call", "eval_classifier_cache_dir",
                            "eval_inception_weights", "best_metric", "best_mode",
                            "parallelism"})


# Keys added after checkpoints began to store their config, with the value
# every run before them had: a stored config without one ran with it, so
# such runs still resume (and the value is left out of fingerprints).
LATER_KEYS = {"image_channels": 0, "imports": "", "parallelism": "pmap"}


def resumable_keys(values: dict) -> frozenset:
  """RESUMABLE_KEYS for a config's values: a scheduled run's curve spans num_steps, so it stays."""
  if values.get("lr_schedule", "constant") != "constant":
    return RESUMABLE_KEYS - {"num_steps"}
  return RESUMABLE_KEYS


def known_keys() -> list[str]:
  return sorted(_SCHEMA)


def unknown_key_message(key: str, where: str = "") -> str:
  """The one-line error for a top-level config key that does not exist (``where``: e.g. ' on the command line')."""
  return (f"unknown config key {key!r}{where}{did_you_mean(key, _SCHEMA)}; known keys: "
          f"{', '.join(known_keys())} (documented in experiments/configs/default.py)")


def _check_game_hparams(name: str, hparams: dict) -> None:
  """Checks ``config.game_hparams`` against game optimizer ``name``'s hyperparameters."""
  allowed = games.defaults(name)
  for key in sorted(hparams):
    if key not in allowed:
      raise UserError(
          f"config.game_hparams.{key} is not a hyperparameter of config.game_optimizer="
          f"{name!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed) or '(none)'}")
  try:
    games.get(name, **hparams)
  except (ValueError, TypeError) as e:
    raise UserError(f"config.game_hparams: {str(e).splitlines()[0] if str(e) else e!r}") from None


def validate(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
  """Raises UserError on the first unknown key, missing key or bad value."""
  values = config.to_dict()
  unknown = sorted(set(values) - set(_SCHEMA))
  if unknown:
    raise UserError(unknown_key_message(unknown[0]))
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
    _check_game_hparams(config.game_optimizer, values["game_hparams"])
  elif values["game_hparams"]:
    raise UserError("config.game_hparams is set but config.game_optimizer='none'; "
                    "choose one of " + ", ".join(games.names()))
  _validate_zoo(config)
  _validate_best(config)
  if config.eval_features == "inception" and not os.path.isfile(
      os.path.expanduser(config.eval_inception_weights)):
    raise UserError(f"config.eval_features='inception' needs config.eval_inception_weights, the "
                    f".npz of FID Inception weights; {config.eval_inception_weights!r} is not a "
                    "file (see gan_jax/features/inception.py for how to make it)")
  if config.batch_size % num_devices:
    raise UserError(f"config.batch_size={config.batch_size} must be divisible by the "
                    f"{num_devices} devices that share each batch")
  for key in ("num_steps", "log_every", "eval_every", "sample_every", "checkpoint_every"):
    if values[key] % config.steps_per_call:
      raise UserError(f"config.{key}={values[key]} must be a multiple of "
                      f"config.steps_per_call={config.steps_per_call}")


def _validate_best(config: ml_collections.ConfigDict) -> None:
  """Refuses a best_metric that the config's evaluations can never compute."""
  metric = config.best_metric
  needs_probs = metric in evaluation.CLASS_METRICS + evaluation.LABEL_METRICS
  reasons = [
      (needs_probs and config.eval_features == "pixels",
       "config.eval_features='pixels' has no class probabilities"),
      (metric in evaluation.LABEL_METRICS and config.conditioning == "none",
       "config.conditioning='none' draws no labels"),
      (metric in evaluation.D_METRICS and not families.for_config(config).has_critic,
       f"config.model={config.model!r} has no discriminator"),
  ]
  for never, why in reasons:
    if never:
      raise UserError(f"config.best_metric={metric!r} is never computed: {why}; choose '' "
                      "(off) or one of " + ", ".join(evaluation.FEATURE_METRICS))


def _validate_zoo(config: ml_collections.ConfigDict) -> None:
  """Checks that the losses, regularizers and models chosen fit together."""
  if config.label_smoothing and not losses.supports_label_smoothing(config.loss):
    raise UserError(f"config.label_smoothing={config.label_smoothing} does not apply to "
                    f"config.loss={config.loss!r}; it applies to "
                    + ", ".join(n for n in losses.names() if losses.supports_label_smoothing(n)))
  for key, neutral in families.for_config(config).neutral_settings.items():
    if config[key] != neutral:
      raise UserError(f"config.{key}={config[key]!r} does not apply to "
                      f"config.model={config.model!r}; set it to {neutral!r}")
  if config.game_optimizer != "none" and config.grad_clip_norm:
    raise UserError(f"config.grad_clip_norm={config.grad_clip_norm} clips the per-player optax "
                    "optimizers; it does not apply with a game optimizer (set it to 0)")


def check_data(config: ml_collections.ConfigDict, image_shape: tuple[int, ...],
               labels) -> None:
  """Checks the config against the loaded data (after ``data.load``, before any write).

  Args:
    config: the validated config.
    image_shape: the training images' shape, after ``config.image_size`` padding.
    labels: the data set's labels, or None.

  Raises:
    UserError: the model cannot take these images, or a conditional run's
      data have no labels or labels outside [0, num_classes).
  """
  try:
    networks.check(config, image_shape)
  except ValueError as e:
    raise UserError(f"config.model={config.model!r}: {e}") from None
  if not networks.num_classes(config):
    return
  if labels is None:
    raise UserError(f"config.conditioning={config.conditioning!r} needs labelled data; "
                    f"dataset {config.dataset!r} has no labels")
  if int(labels.max()) >= config.num_classes:
    raise UserError(f"dataset {config.dataset!r} has label {int(labels.max())}, outside "
                    f"[0, config.num_classes={config.num_classes})")


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def fingerprinted(config: ml_collections.ConfigDict) -> dict:
  """The config's keys that may not change on resume (all but RESUMABLE_KEYS), as JSON values.

  Every checkpoint stores them (gan_jax.checkpoint), so a resume is checked
  against the run that wrote it, whatever config.json says.
  """
  values = json.loads(to_json(config))
  return {k: v for k, v in values.items() if k not in resumable_keys(values)
          and not (k in LATER_KEYS and v == LATER_KEYS[k])}


def _has_checkpoint(workdir: str) -> bool:
  path = os.path.join(workdir, "checkpoints")
  return os.path.isdir(path) and any(d.isdigit() for d in os.listdir(path))


def read_saved(path: str, advice: str = "") -> dict:
  """A run's config.json as a dict; a UserError (ending in ``advice``) if it is unreadable."""
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise UserError(f"{path} is unreadable ({e}){advice}") from None
  if not isinstance(saved, dict):
    raise UserError(f"{path} does not hold a config (a JSON object){advice}")
  return saved


def check_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a workdir whose config.json describes a different run (reads only).

  A config.json with no checkpoint beside it is from a run that stopped
  before its first checkpoint (a bad setting, a crash): nothing there can be
  resumed, so the workdir is free for the corrected command.
  """
  path = os.path.join(workdir, "config.json")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} exists and is not a directory")
  has_checkpoint = _has_checkpoint(workdir)
  if not os.path.exists(path):
    if has_checkpoint:
      raise UserError(f"workdir {workdir!r} holds checkpoints but no config.json; "
                      "use a new workdir")
    return
  if not has_checkpoint:
    return
  saved = read_saved(path, "; use a new workdir")
  differing = config_difference(saved, json.loads(to_json(config)))
  if differing:
    raise UserError(
        f"workdir {workdir!r} holds a run with a different config ({differing}); use a new "
        f"workdir, or change only {', '.join(sorted(resumable_keys(config.to_dict())))} to "
        "resume")


def config_difference(saved: dict, current: dict) -> str:
  """'KEY: X there, Y now' for the first non-resumable key that differs, else ''.

  ``saved`` and ``current`` are whole configs or ``fingerprinted`` ones (a key
  of LATER_KEYS missing from either reads as its old value).
  """
  resumable = resumable_keys(current)
  saved, current = {**LATER_KEYS, **saved}, {**LATER_KEYS, **current}
  differing = sorted(k for k in set(saved) | set(current)
                     if k not in resumable and saved.get(k) != current.get(k))
  if not differing:
    return ""
  key = differing[0]
  return f"{key}: {saved.get(key)!r} there, {current.get(key)!r} now"
