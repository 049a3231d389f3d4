"""Orbax checkpoints of the whole GANState (params, optimizer states, step, key).

The state is saved as a plain nested dict of numpy arrays
(``flax.serialization.to_state_dict``) and restored into a freshly built
template, so a checkpoint holds no Python objects and restores bit-exactly.
Orbax writes each step to a temporary directory and renames it when complete,
so a run killed mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from typing import Optional

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.errors import UserError
from gan_jax.state import GANState


def manager(workdir: str, max_to_keep: int) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def _host_tree(state: GANState) -> dict:
  return jax.tree.map(np.asarray, flax.serialization.to_state_dict(jax.device_get(state)))


def save(mngr: ocp.CheckpointManager, state: GANState) -> None:
  """Saves ``state`` (on one device, not replicated) under its step."""
  step = int(state.step)
  if step in mngr.all_steps():
    return
  mngr.save(step, args=ocp.args.StandardSave(_host_tree(state)))


def restore_latest(mngr: ocp.CheckpointManager, template: GANState) -> Optional[GANState]:
  """The newest checkpoint restored into ``template``'s structure, or None.

  Raises:
    UserError: the checkpoint does not fit the template (another model, or a
      gan_jax version that named its layers differently); nothing is changed.
  """
  step = mngr.latest_step()
  if step is None:
    return None
  expected = _host_tree(template)
  where = f"the checkpoint of step {step} in {mngr.directory} does not fit this model"
  advice = "resume with the config and gan_jax version that wrote it, or use a new workdir"
  try:
    restored = mngr.restore(step, args=ocp.args.StandardRestore(
        jax.tree.map(ocp.utils.to_shape_dtype_struct, expected)))
  except ValueError:  # Orbax: the trees' structures differ.
    raise UserError(f"{where}: its layers differ from the model's; {advice}") from None
  # Orbax restores the stored shapes whatever the template says, so check them.
  mismatched = [(jax.tree_util.keystr(path, simple=True, separator="/"), np.shape(got),
                 want.shape)
                for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected),
                                             jax.tree.leaves(restored))
                if np.shape(got) != want.shape]
  if mismatched:
    # Name a parameter rather than an optimizer moment where there is one.
    name, got, want = min(mismatched, key=lambda m: "opt_state" in m[0])
    raise UserError(f"{where}: {name} has shape {got}, the model's is {want}; {advice}")
  return flax.serialization.from_state_dict(template, restored)
