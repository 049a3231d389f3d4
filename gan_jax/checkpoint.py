"""Orbax checkpoints of the whole GANState (params, optimizer states, step, key).

The state is saved as a plain nested dict of numpy arrays
(``flax.serialization.to_state_dict``) and restored into a freshly built
template, so a checkpoint holds no Python objects and restores bit-exactly.
Orbax writes each step to a temporary directory and renames it when complete,
so a run killed mid-save leaves the previous checkpoint intact.

Each checkpoint also stores, in its Orbax step metadata, the config keys a
resume may not change and their SHA-256 (``config_sha256``), so a resume with
another config is refused even when config.json was edited, and the run's
wall-clock seconds so far (``wall_s``), so a resumed run's ``summary.json``
counts every invocation.

``checkpoints/best/`` is a second manager that keeps one checkpoint: the best
by ``config.best_metric`` so far (``gan_jax.train``). Its metadata also holds
``best: {step, metric, value}``; ``keep_checkpoints`` never deletes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from typing import Optional, Union

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.config import config_difference
from gan_jax.errors import UserError
from gan_jax.state import GANState


BEST_DIR = "best"


def manager(workdir: str, max_to_keep: int, create: bool = True) -> ocp.CheckpointManager:
  """The workdir's checkpoint manager; ``create=False`` reads only (no directory is made)."""
  return _manager(os.path.join(os.path.abspath(workdir), "checkpoints"), max_to_keep, create)


def best_manager(workdir: str, create: bool = True) -> ocp.CheckpointManager:
  """The manager of ``checkpoints/best/``: the one best checkpoint of the run."""
  return _manager(os.path.join(os.path.abspath(workdir), "checkpoints", BEST_DIR), 1, create)


def has_best(workdir: str) -> bool:
  """Whether ``workdir`` holds a best checkpoint (reads only)."""
  path = os.path.join(workdir, "checkpoints", BEST_DIR)
  return os.path.isdir(path) and any(d.isdigit() for d in os.listdir(path))


def _manager(directory: str, max_to_keep: int, create: bool) -> ocp.CheckpointManager:
  # The handler named up front lets item_metadata read a checkpoint's tree
  # (paths, shapes) before anything is restored. In a multi-process run each
  # manager's save ends with a cross-process barrier in a background thread;
  # barriers of the two managers share names unless prefixed (here by the
  # directory's name: checkpoints, best), and a second manager's save entering
  # the same barrier while the first's is open fails with
  # "Barrier ...:set_value_start is already ongoing" or hangs.
  return ocp.CheckpointManager(
      directory,
      item_handlers=ocp.StandardCheckpointHandler(),
      options=ocp.CheckpointManagerOptions(
          max_to_keep=max_to_keep, create=create,
          multiprocessing_options=ocp.options.MultiprocessingOptions(
              barrier_sync_key_prefix=os.path.basename(directory))))


def config_sha256(run_config: dict) -> str:
  """The SHA-256 of the JSON of ``run_config`` (keys sorted)."""
  return hashlib.sha256(json.dumps(run_config, sort_keys=True).encode()).hexdigest()


def _host_tree(state: GANState) -> dict:
  return jax.tree.map(np.asarray, flax.serialization.to_state_dict(jax.device_get(state)))


def save(mngr: ocp.CheckpointManager, state: GANState,
         run_config: Optional[dict] = None, extra: Optional[dict] = None) -> None:
  """Saves ``state`` (on one device, not replicated) under its step.

  ``run_config``: the config keys a resume may not change, stored with the
  checkpoint with their hash (``restore_latest`` checks them). ``extra``:
  more JSON values for the checkpoint's metadata (``wall_s``, ``best``),
  read back with ``custom_metadata``.
  """
  step = int(state.step)
  if step in mngr.all_steps():
    return
  metadata = dict(extra or {})
  if run_config is not None:
    metadata.update(config_sha256=config_sha256(run_config), config=run_config)
  if not mngr.save(step, args=ocp.args.StandardSave(_host_tree(state)),
                   custom_metadata=metadata or None):
    raise RuntimeError(f"orbax did not save step {step} in {mngr.directory} (its steps: "
                       f"{sorted(mngr.all_steps())})")


def save_best(mngr: ocp.CheckpointManager, state: GANState, run_config: dict,
              extra: dict) -> None:
  """Saves ``state`` as the run's one best checkpoint (``best_manager``), replacing the old one.

  A stored best at this step or a later one goes first: a resumed run that
  judges by another metric, or that restarted from an earlier checkpoint,
  can find its new best at an earlier step than the stored one, which orbax
  would otherwise refuse to save (or keep, with the old record).
  """
  step = int(state.step)
  stale = [s for s in mngr.all_steps() if s >= step]
  if stale:
    mngr.wait_until_finished()
    for s in stale:
      mngr.delete(s)
  save(mngr, state, run_config, extra)


def custom_metadata(mngr: ocp.CheckpointManager, step: int) -> dict:
  """The metadata ``save`` stored with step ``step`` ({} for none).

  Raises:
    UserError: the checkpoint's metadata cannot be read.
  """
  try:
    return dict(mngr.metadata(step).custom_metadata or {})
  except (ValueError, OSError) as e:
    raise _unreadable(mngr, step, e) from None


def _check_config(mngr: ocp.CheckpointManager, step: int, run_config: dict) -> None:
  """Refuses a checkpoint written with other values of the keys a resume may not change."""
  stored = custom_metadata(mngr, step)
  if "config_sha256" not in stored:
    return  # Written before checkpoints stored their config.
  if stored["config_sha256"] == config_sha256(run_config):
    return
  detail = config_difference(stored.get("config", {}), run_config) or "its config hash differs"
  raise UserError(f"the checkpoint of step {step} in {mngr.directory} was written by a run "
                  f"with a different config ({detail}), whatever config.json says; resume with "
                  "that config, or use a new workdir")


def _shapes(tree) -> dict[str, tuple]:
  return {jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _misfit(stored: dict[str, tuple], expected: dict[str, tuple]) -> Optional[str]:
  """Why a checkpoint with ``stored`` leaf shapes does not fit ``expected``; None if it does."""
  # Name a parameter rather than an optimizer moment where there is one.
  first = lambda names: min(names, key=lambda name: ("opt_state" in name, name))
  if missing := expected.keys() - stored.keys():
    return f"its layers differ from the model's (it has no {first(missing)})"
  if extra := stored.keys() - expected.keys():
    return f"its layers differ from the model's (the model has no {first(extra)})"
  if mismatched := [name for name in expected if stored[name] != expected[name]]:
    name = first(mismatched)
    return f"{name} has shape {stored[name]}, the model's is {expected[name]}"
  return None


def _drop_closed_loop_reports() -> None:
  """Silences the 'Event loop is closed' reports that follow a failed read.

  When one array of a checkpoint cannot be read, Orbax's restore stops and
  closes its event loop while its other reads are still running; as they
  finish they report to the closed loop, and Python prints each report as a
  traceback (often at exit, after the one-line error). They carry no
  information, so this hook drops exactly them. It is installed before a
  restore starts: a report can come from Orbax's threads before the failed
  read's exception reaches gan_jax.
  """
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_loop_reports", False):
    return

  def hook(unraisable):
    error = unraisable.exc_value
    if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
      previous(unraisable)

  hook.drops_closed_loop_reports = True
  sys.unraisablehook = hook
  # The same reads, when asyncio collects them first, are logged instead.
  logging.getLogger("asyncio").addFilter(_drop_unretrieved_read_errors)


# A failed TensorStore read: a ValueError whose text starts with its status code.
_READ_ERROR = re.compile(r"[A-Z_]+: ")


def _drop_unretrieved_read_errors(record: logging.LogRecord) -> bool:
  """False for asyncio's 'Task exception was never retrieved' of a failed read."""
  error = record.exc_info[1] if record.exc_info else None
  return not (record.getMessage().split("\n")[0] == "Task exception was never retrieved"
              and isinstance(error, ValueError) and _READ_ERROR.match(str(error)))


def _unreadable(mngr: ocp.CheckpointManager, step: int, error: Exception) -> UserError:
  reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
  step_dir = os.path.join(mngr.directory, str(step))
  return UserError(f"cannot read the checkpoint of step {step} in {mngr.directory} ({reason}); "
                   f"delete {step_dir} to resume from the checkpoint before it (or from the "
                   f"start), or use a new workdir")


def restore_latest(mngr: ocp.CheckpointManager, template: GANState,
                   run_config: Optional[dict] = None) -> Optional[GANState]:
  """The newest checkpoint restored into ``template``'s structure, or None (see ``restore``)."""
  step = mngr.latest_step()
  if step is None:
    return None
  return restore(mngr, template, step, run_config)


def restore(mngr: ocp.CheckpointManager, template: GANState, step: int,
            run_config: Optional[dict] = None) -> GANState:
  """The checkpoint of ``step`` restored into ``template``'s structure.

  ``run_config``, if given, must match the config stored with the checkpoint.

  Raises:
    UserError: the checkpoint does not fit the template (another model, or a
      gan_jax version that named its layers differently), or cannot be read
      (missing or damaged files), or was written with another config;
      nothing is changed.
  """
  _drop_closed_loop_reports()
  if run_config is not None:
    _check_config(mngr, step, run_config)
  expected = _host_tree(template)
  # Orbax restores the stored shapes whatever the template says, so the
  # stored tree is checked before anything is restored.
  try:
    metadata = mngr.item_metadata(step)
    if metadata is None:
      raise FileNotFoundError("no metadata")
  except (ValueError, OSError) as e:
    raise _unreadable(mngr, step, e) from None
  misfit = _misfit(_shapes(metadata), _shapes(expected))
  if misfit is not None:
    raise UserError(f"the checkpoint of step {step} in {mngr.directory} does not fit this model: "
                    f"{misfit}; resume with the config and gan_jax version that wrote it, or use "
                    f"a new workdir")
  try:
    restored = mngr.restore(step, args=ocp.args.StandardRestore(
        jax.tree.map(ocp.utils.to_shape_dtype_struct, expected)))
  except (ValueError, OSError) as e:
    raise _unreadable(mngr, step, e) from None
  return flax.serialization.from_state_dict(template, restored)


LATEST, BEST = "latest", "best"


def parse_choice(text: str) -> Union[str, int]:
  """``--checkpoint`` of a command: 'latest', 'best' or a step (an integer >= 0).

  Raises:
    UserError: anything else.
  """
  text = text.strip()
  if text in (LATEST, BEST):
    return text
  if text.isdigit():
    return int(text)
  raise UserError(f"--checkpoint={text!r} is not allowed; it must be 'latest', 'best' or a "
                  "step number")


def restore_choice(workdir: str, choice: Union[str, int], template: GANState,
                   run_config: Optional[dict] = None) -> GANState:
  """The checkpoint ``choice`` (``parse_choice``) of ``workdir`` restored into ``template``.

  Raises:
    UserError: no such checkpoint (the message lists those there), or one
      that ``restore`` refuses.
  """
  mngr = manager(workdir, 1, create=False)
  steps = sorted(mngr.all_steps())
  there = (f"its checkpoints: {', '.join(map(str, steps)) or 'none'}"
           + (", best" if has_best(workdir) else ""))
  if choice == BEST:
    if not has_best(workdir):
      raise UserError(f"workdir {workdir!r} has no best checkpoint (checkpoints/{BEST_DIR}/ is "
                      "written at evaluations when config.best_metric is set); use --checkpoint "
                      f"latest or a step; {there}")
    mngr = best_manager(workdir, create=False)
    step = mngr.latest_step()
  elif choice == LATEST:
    step = mngr.latest_step()
  else:
    step = choice
  if step is None or step not in mngr.all_steps():
    raise UserError(f"workdir {workdir!r} has no checkpoint of step {choice}; {there}"
                    if isinstance(choice, int) else
                    f"workdir {workdir!r} has no checkpoint; {there}")
  return restore(mngr, template, step, run_config)


def best_record(workdir: str) -> Optional[dict]:
  """``{step, metric, value}`` of ``workdir``'s best checkpoint, or None (reads only)."""
  if not has_best(workdir):
    return None
  mngr = best_manager(workdir, create=False)
  step = mngr.latest_step()
  best = custom_metadata(mngr, step).get("best") if step is not None else None
  return dict(best) if isinstance(best, dict) else None
