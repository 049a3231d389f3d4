"""Orbax checkpoints of the whole GANState (params, optimizer states, step, key).

The state is saved as a plain nested dict of numpy arrays
(``flax.serialization.to_state_dict``) and restored into a freshly built
template, so a checkpoint holds no Python objects and restores bit-exactly.
Orbax writes each step to a temporary directory and renames it when complete,
so a run killed mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.errors import UserError
from gan_jax.state import GANState


def manager(workdir: str, max_to_keep: int) -> ocp.CheckpointManager:
  # The handler named up front lets item_metadata read a checkpoint's tree
  # (paths, shapes) before anything is restored.
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      item_handlers=ocp.StandardCheckpointHandler(),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def _host_tree(state: GANState) -> dict:
  return jax.tree.map(np.asarray, flax.serialization.to_state_dict(jax.device_get(state)))


def save(mngr: ocp.CheckpointManager, state: GANState) -> None:
  """Saves ``state`` (on one device, not replicated) under its step."""
  step = int(state.step)
  if step in mngr.all_steps():
    return
  mngr.save(step, args=ocp.args.StandardSave(_host_tree(state)))


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
  information, so this hook drops exactly them.
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


def _unreadable(mngr: ocp.CheckpointManager, step: int, error: Exception) -> UserError:
  _drop_closed_loop_reports()
  reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
  step_dir = os.path.join(mngr.directory, str(step))
  return UserError(f"cannot read the checkpoint of step {step} in {mngr.directory} ({reason}); "
                   f"delete {step_dir} to resume from the checkpoint before it (or from the "
                   f"start), or use a new workdir")


def restore_latest(mngr: ocp.CheckpointManager, template: GANState) -> Optional[GANState]:
  """The newest checkpoint restored into ``template``'s structure, or None.

  Raises:
    UserError: the checkpoint does not fit the template (another model, or a
      gan_jax version that named its layers differently), or cannot be read
      (missing or damaged files); nothing is changed.
  """
  step = mngr.latest_step()
  if step is None:
    return None
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
