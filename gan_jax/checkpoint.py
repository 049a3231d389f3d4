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
  """The newest checkpoint restored into ``template``'s structure, or None."""
  step = mngr.latest_step()
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _host_tree(template))
  restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  return flax.serialization.from_state_dict(template, restored)
