"""Two local processes (gloo collectives on CPU) train one run together, shard_mapped or pmapped."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, xla_flags
from gan_jax import train


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start_two(argv_of, **env_extra):
  """Processes 0 and 1 of ``python ARGV_OF(i)`` from the repo root, faulthandler on."""
  env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1", **env_extra)
  return [subprocess.Popen([sys.executable, *argv_of(i)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(2)]


def _communicate_or_dump(procs, timeout):
  """Each process's (stdout, stderr); a hung one is failed with every thread's Python stack."""
  try:
    return [p.communicate(timeout=timeout) for p in procs]
  except subprocess.TimeoutExpired:
    for p in procs:
      if p.poll() is None:
        p.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER prints all threads' stacks.
    dumps = [p.communicate()[1][-6000:] for p in procs]
    pytest.fail("processes hung:\n" + "\n----\n".join(dumps))


@pytest.mark.parametrize("parallelism", ["shard_map", "pmap"])
def test_two_processes_agree_and_match_one_process(tiny_config, tmp_path, parallelism):
  port = _free_port()
  procs = _start_two(
      lambda i: ["-m", "experiments.train", "--config", "experiments/configs/tiny.py",
                 "--workdir", str(tmp_path / "multi"), "--config.num_steps=20",
                 f"--config.parallelism={parallelism}", "--coordinator_address",
                 f"127.0.0.1:{port}", "--num_processes", "2", "--process_id", str(i)],
      XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=2"))
  outputs = _communicate_or_dump(procs, timeout=300)
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  hashes = [out.split("params_sha256=")[1].split()[0] for out, _ in outputs]
  assert hashes[0] == hashes[1]  # Both processes hold the same parameters.
  multi = json.load(open(tmp_path / "multi" / "summary.json"))
  assert multi["num_processes"] == 2 and multi["num_devices"] == 4 and multi["step"] == 20

  # The same global batches on one device give the same training up to float order.
  tiny_config.num_steps = 20
  single = train.train_and_evaluate(tiny_config, str(tmp_path / "single"))
  np.testing.assert_allclose(multi["d_loss"], single["d_loss"], rtol=1e-4)
  np.testing.assert_allclose(multi["g_loss"], single["g_loss"], rtol=1e-4)


def test_latest_and_best_checkpoints_save_together_in_two_processes(tmp_path):
  # The two managers' saves end with cross-process barriers in background
  # threads; with the same barrier names they collided ("Barrier
  # ...:set_value_start is already ongoing") or hung, in 2 of 3 runs.
  port = _free_port()
  procs = _start_two(
      lambda i: ["tests/scripts/checkpoint_barriers.py", str(port), str(i), str(tmp_path)],
      PYTHONPATH=".")
  outputs = _communicate_or_dump(procs, timeout=120)
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
    assert out.strip().endswith("saved [9, 10]"), out
  assert sorted(os.listdir(tmp_path / "checkpoints" / "best")) == ["10"]


def test_a_failed_evaluator_on_process_0_stops_both_processes(tmp_path):
  # Only process 0 builds the evaluator; process 1 used to wait for its answer forever.
  bad_weights = tmp_path / "bad_inception.npz"
  np.savez(bad_weights, unrelated=np.zeros(3))
  port = _free_port()
  procs = _start_two(
      lambda i: ["-m", "experiments.train", "--config", "experiments/configs/tiny.py",
                 "--workdir", str(tmp_path / "run"), "--config.eval_features=inception",
                 f"--config.eval_inception_weights={bad_weights}", "--coordinator_address",
                 f"127.0.0.1:{port}", "--num_processes", "2", "--process_id", str(i)])
  (_, err0), (_, err1) = _communicate_or_dump(procs, timeout=180)
  assert [p.returncode for p in procs] == [2, 2], (err0[-2000:], err1[-2000:])
  assert "error: inception weights" in err0
  assert "error: process 0 could not start its evaluation" in err1
  assert not (tmp_path / "run" / "config.json").exists()
