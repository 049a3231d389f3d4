"""gan_jax.checkpoint: bit-exact round trips, and checkpoints that do not fit the model."""

import logging
import os
import shutil
import sys

import jax
import numpy as np
import pytest

from experiments.configs import default
from gan_jax import checkpoint, train
from gan_jax.errors import UserError
from conftest import run_python


def _state(hidden_dims):
  config = default.get_config()
  config.batch_size = 4
  config.latent_dim = 8
  config.hidden_dims = hidden_dims
  return train.build(config, (6, 6, 1))[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("run"))
  state = _state((16, 16)).replace(step=7)
  mngr = checkpoint.manager(workdir, max_to_keep=2)
  checkpoint.save(mngr, state)
  mngr.wait_until_finished()
  return workdir, state


def test_restore_is_bit_exact(saved):
  workdir, state = saved
  restored = checkpoint.restore_latest(checkpoint.manager(workdir, 2), _state((16, 16)))
  assert int(restored.step) == 7
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_empty_workdir_restores_nothing(tmp_path):
  assert checkpoint.restore_latest(checkpoint.manager(str(tmp_path), 2), _state((16, 16))) is None


@pytest.mark.parametrize("hidden_dims,message", [
    # Same layers, other widths: Orbax alone would restore the stored shapes.
    ((8, 8), r"d/params/params/Dense_0/bias has shape \(16,\), the model's is \(8,\)"),
    ((16, 16, 16), r"layers differ from the model's \(it has no d/params/params/Dense_3/bias\)"),
    ((16,), r"layers differ from the model's \(the model has no d/params/params/Dense_2/bias\)"),
])
def test_checkpoint_of_another_model_is_a_one_line_error(saved, hidden_dims, message):
  workdir, _ = saved
  with pytest.raises(UserError, match=message) as info:
    checkpoint.restore_latest(checkpoint.manager(workdir, 2), _state(hidden_dims))
  assert "\n" not in str(info.value)
  assert "use a new workdir" in str(info.value)


def _truncate_array_files(checkpoint_dir):
  """Cuts every array data file (Orbax keeps them in directories named d) to 10 bytes."""
  cut = 0
  for root, _, files in os.walk(checkpoint_dir):
    if os.path.basename(root) == "d":
      for name in files:
        with open(os.path.join(root, name), "r+b") as f:
          f.truncate(10)
        cut += 1
  assert cut, "no array files found: has Orbax's layout changed?"


def _delete_metadata(checkpoint_dir):
  for root, _, files in os.walk(checkpoint_dir):
    for name in files:
      if name.endswith("_METADATA"):
        os.remove(os.path.join(root, name))


@pytest.mark.parametrize("damage", [_truncate_array_files, _delete_metadata])
def test_damaged_checkpoint_is_a_one_line_error(saved, tmp_path, damage):
  workdir = str(tmp_path / "run")
  shutil.copytree(saved[0], workdir)
  damage(os.path.join(workdir, "checkpoints", "7"))
  with pytest.raises(UserError, match="cannot read the checkpoint of step 7") as info:
    checkpoint.restore_latest(checkpoint.manager(workdir, 2), _state((16, 16)))
  assert "\n" not in str(info.value)
  assert f"delete {os.path.join(workdir, 'checkpoints', '7')} " in str(info.value)


def test_damaged_checkpoint_ends_the_command_with_one_line(tmp_path):
  # Orbax's reads still running after the failed one report to a closed event
  # loop; without gan_jax's filter each printed a traceback after the error.
  command = ["-m", "experiments.train", "--config", "experiments/configs/tiny.py",
             "--workdir", str(tmp_path / "run"), "--config.num_steps=10",
             "--config.progress_bar=false"]
  assert run_python(command).returncode == 0
  newest = os.path.join(tmp_path, "run", "checkpoints", "10")
  _truncate_array_files(newest)
  result = run_python(command)
  assert result.returncode == 2
  assert result.stderr.startswith("error: cannot read the checkpoint of step 10"), result.stderr
  assert result.stderr.strip().count("\n") == 0, result.stderr


def test_closed_loop_filter_passes_other_reports_on(monkeypatch):
  seen = []
  monkeypatch.setattr("sys.unraisablehook", seen.append)
  checkpoint._drop_closed_loop_reports()  # pylint: disable=protected-access
  checkpoint._drop_closed_loop_reports()  # pylint: disable=protected-access  (installed once)
  report = lambda error: type("Unraisable", (), {"exc_value": error})()
  sys.unraisablehook(report(RuntimeError("Event loop is closed")))
  other = report(RuntimeError("something else"))
  sys.unraisablehook(other)
  assert seen == [other]


def test_asyncio_reports_of_failed_reads_are_dropped_and_others_kept():
  # When asyncio collects Orbax's other failed reads before the loop closes, it
  # logs each as 'Task exception was never retrieved' (seen once in CI).
  def record(error):
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1,
                             "Task exception was never retrieved\nfuture: <Task finished>",
                             None, (type(error), error, None))

  read_error = ValueError('OUT_OF_RANGE: Error opening "zarr" driver: Error reading "step/.zarray"')
  assert not checkpoint._drop_unretrieved_read_errors(record(read_error))
  assert checkpoint._drop_unretrieved_read_errors(record(ValueError("a bug of ours")))
  assert checkpoint._drop_unretrieved_read_errors(record(RuntimeError("OUT_OF_RANGE: other")))
