"""End-to-end runs of experiments.train / train_and_evaluate on the tiny config."""

import json
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, run_python, wait_for_checkpoint, xla_flags
from gan_jax import losses, train
from gan_jax.errors import NonFiniteError, UserError

TINY = "experiments/configs/tiny.py"


def test_tiny_run_writes_the_workdir(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(tiny_config, workdir)
  assert summary["step"] == 40 and len(summary["params_sha256"]) == 64
  for name in ("config.json", "metrics.jsonl", "losses.png", "summary.json",
               "samples/step_000020.png", "samples/step_000040.png"):
    assert os.path.isfile(os.path.join(workdir, name)), name
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["20", "40", "best"]
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, "tensorboard")))
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  train_records = [r for r in records if "d_loss" in r]
  assert [r["step"] for r in train_records] == [10, 20, 30, 40]
  for key in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "steps_per_sec"):
    assert all(np.isfinite(r[key]) for r in train_records), key
  assert json.load(open(os.path.join(workdir, "config.json")))["seed"] == tiny_config.seed
  assert json.load(open(os.path.join(workdir, "summary.json"))) == summary


def test_loop_calls_move_nothing_and_metrics_leave_the_device_at_log_steps(
    quick_config, tmp_path, monkeypatch):
  calls, fetches = [], []
  compiled_loop, fetch = train._compiled_loop, train._MetricsWindow.fetch

  def guarded_loop(*args, **kwargs):
    loop = compiled_loop(*args, **kwargs)

    def call(*loop_args):
      calls.append(len(calls))
      # Any host<->device copy of the state, the data or the metrics raises.
      with jax.transfer_guard("disallow"):
        return loop(*loop_args)

    return call

  def counted_fetch(self):
    fetches.append(len(calls))
    return fetch(self)

  monkeypatch.setattr(train, "_compiled_loop", guarded_loop)
  monkeypatch.setattr(train._MetricsWindow, "fetch", counted_fetch)
  quick_config.num_steps, quick_config.steps_per_call = 40, 5
  quick_config.log_every = quick_config.checkpoint_every = 20
  quick_config.sample_every = 0
  train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  assert len(calls) == 8
  assert fetches == [4, 8]  # After the calls that end steps 20 and 40 only.


class _Pending:
  """A stand-in for one call's device metrics that records when it is waited for."""

  def __init__(self, name, waited):
    self.name, self._waited = name, waited

  def block_until_ready(self):
    self._waited.append(self.name)
    return self


def test_metrics_window_lets_only_one_call_run_ahead():
  # Without the wait, Python dispatches every call up to the next log step
  # ahead of the device, and a signal is answered only after all of them.
  waited = []
  window = train._MetricsWindow(lambda m: {"loss": np.zeros(1)})
  for name in ("a", "b", "c"):
    window.add({"loss": _Pending(name, waited)})
    assert waited == ["a", "b"][:"abc".index(name)]
  window.fetch()  # Copied to the host: nothing is left to wait for.
  window.add({"loss": _Pending("d", waited)})
  assert waited == ["a", "b"]


def _hash(config, workdir):
  return train.train_and_evaluate(config, str(workdir))["params_sha256"]


@pytest.fixture
def quick_config(tiny_config):
  """The tiny config without evaluation: these tests are about the training state."""
  tiny_config.eval_every = 0
  return tiny_config


def test_same_seed_same_params_other_seed_different(quick_config, tmp_path):
  quick_config.num_steps = 10
  a = _hash(quick_config, tmp_path / "a")
  b = _hash(quick_config, tmp_path / "b")
  quick_config.seed = 1
  c = _hash(quick_config, tmp_path / "c")
  assert a == b
  assert a != c


def test_gpu_run_without_the_determinism_flag_warns_and_says_so(quick_config, tmp_path,
                                                                monkeypatch, caplog):
  # The backend is only asked for its name here; the run itself stays on the CPU.
  monkeypatch.setattr(train.jax, "default_backend", lambda: "gpu")
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
  quick_config.num_steps = 10
  summary = train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  assert summary["backend"] == "gpu" and summary["xla_gpu_deterministic_ops"] is False
  assert any("not be bit-reproducible" in r.getMessage() for r in caplog.records), caplog.text


def test_rerun_resumes_and_extends(quick_config, tmp_path):
  quick_config.num_steps = 20
  full = quick_config.copy_and_resolve_references()
  full.num_steps = 40
  reference = _hash(full, tmp_path / "full")
  first = train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  again = train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  assert again == first  # Complete: nothing retrained or overwritten.
  extended = train.train_and_evaluate(full, str(tmp_path / "run"))
  assert extended["resumed_from_step"] == 20
  assert extended["params_sha256"] == reference
  steps = [json.loads(l)["step"] for l in open(tmp_path / "run" / "metrics.jsonl")]
  assert steps == sorted(set(steps))


def test_resume_with_a_steps_per_call_that_misses_the_step_is_refused(quick_config, tmp_path):
  quick_config.num_steps, quick_config.log_every, quick_config.checkpoint_every = 15, 5, 5
  train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  before = os.listdir(tmp_path / "run" / "checkpoints")
  quick_config.num_steps, quick_config.steps_per_call = 40, 10
  quick_config.log_every = quick_config.checkpoint_every = 10
  with pytest.raises(UserError, match="steps_per_call=10 does not divide step 15"):
    train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  assert os.listdir(tmp_path / "run" / "checkpoints") == before
  quick_config.steps_per_call = 5  # One that divides 15 resumes.
  assert train.train_and_evaluate(quick_config, str(tmp_path / "run"))["step"] == 40


def test_workdir_with_another_config_is_refused(quick_config, tmp_path):
  quick_config.num_steps = 10
  train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  before = open(tmp_path / "run" / "summary.json").read()
  quick_config.seed = 5
  with pytest.raises(UserError, match="different config .*seed"):
    train.train_and_evaluate(quick_config, str(tmp_path / "run"))
  assert open(tmp_path / "run" / "summary.json").read() == before


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(quick_config, tmp_path):
  d_loss, g_loss = losses.get("non_saturating")
  losses.register("flaky_for_test", d_loss, g_loss, overwrite=True)
  quick_config.loss = "flaky_for_test"
  quick_config.num_steps = 20
  workdir = tmp_path / "run"
  train.train_and_evaluate(quick_config, str(workdir))
  losses.register("flaky_for_test", d_loss, lambda r, f: g_loss(r, f) * jnp.nan, overwrite=True)
  quick_config.num_steps = 40
  with pytest.raises(NonFiniteError, match="at step 20 .*last good checkpoint is step 20"):
    train.train_and_evaluate(quick_config, str(workdir))
  assert sorted(os.listdir(workdir / "checkpoints")) == ["20"]


def _cli(workdir, *overrides):
  return [ "-m", "experiments.train", "--config", TINY, "--workdir", str(workdir), *overrides]


LONG = ("--config.num_steps=1000", "--config.checkpoint_every=100", "--config.log_every=100",
        "--config.sample_every=0", "--config.eval_every=0")


def _start(workdir, env=None):
  return subprocess.Popen([sys.executable, *_cli(workdir, *LONG)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
  # Uninterrupted, alongside (suite time). It also opts out of the GPU
  # determinism flag that experiments.train sets, which must not change a CPU run.
  reference = _start(tmp_path / "ref", env=dict(
      os.environ, XLA_FLAGS=xla_flags("--xla_gpu_deterministic_ops=false")))
  workdir = tmp_path / "killed"
  proc = _start(workdir)
  wait_for_checkpoint(workdir, proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(workdir / "summary.json")  # It really died mid-run.
  resumed = run_python(_cli(workdir, *LONG))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  _, stderr = reference.communicate(timeout=300)
  assert reference.returncode == 0, stderr[-2000:]
  summary = json.load(open(workdir / "summary.json"))
  assert 0 < summary["resumed_from_step"] < 1000
  assert summary["params_sha256"] == json.load(open(tmp_path / "ref" / "summary.json"))["params_sha256"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_a_checkpoint(tmp_path, sig):
  workdir = tmp_path / "run"
  proc = _start(workdir)
  wait_for_checkpoint(workdir, proc)
  proc.send_signal(sig)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 128 + sig, stderr[-2000:]
  match = [l for l in stderr.splitlines() if l.startswith("interrupted:")]
  assert match, stderr[-2000:]
  step = int(match[0].split(" at step ")[1].split(";")[0])
  assert str(step) in os.listdir(workdir / "checkpoints")


BAD_INPUTS = [
    (("--config.not_a_key=1",), "unknown config key 'not_a_key'"),
    (("--config.loss=nope",), "config.loss='nope' is not allowed; it must be one of"),
    (("--config.dataset=nope",), "config.dataset='nope' is not allowed"),
    (("--config.batch_size=-4",), "config.batch_size=-4 is not allowed; it must be an integer >= 1"),
    (("--config.num_steps=-1",), "config.num_steps=-1 is not allowed"),
    (("--config.dataset=npz:/no/such/file.npz",), "does not exist"),
    (("--config.log_every=7",), "must be a multiple of config.steps_per_call=5"),
    (("--coordinator_address=127.0.0.1:1234",), "--process_id I together; got --coordinator"),
]


@pytest.mark.parametrize("overrides,message", BAD_INPUTS)
def test_bad_input_gives_one_line_error(tmp_path, overrides, message):
  result = run_python(_cli(tmp_path / "run", *overrides))
  assert result.returncode == 2
  assert result.stderr.strip().count("\n") == 0, result.stderr
  assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("flags,message", [
    ((None, 2, None), "together; got --num_processes=2"),
    (("127.0.0.1", 2, 0), "--coordinator_address='127.0.0.1' is not allowed; it must be HOST:PORT"),
    (("127.0.0.1:1234", 2, 2), "--num_processes=2 --process_id=2 is not allowed"),
    (("127.0.0.1:1234", 0, 0), "N >= 1 and 0 <= I < N"),
])
def test_bad_multi_process_flags_fail_in_one_line(capsys, flags, message):
  from experiments import cli
  with pytest.raises(SystemExit) as e:
    cli.check_distributed_flags(*flags)
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
  assert message in err, err


def test_single_process_flags_ask_for_no_distributed_run():
  from experiments import cli
  assert not cli.check_distributed_flags(None, None, None)
  assert cli.check_distributed_flags("127.0.0.1:1234", 2, 1)


@pytest.mark.parametrize("content,message", [
    (b"not a zip", "is not an .npz archive"),
    ("no_x_train", "has no 'x_train' array"),
    ("float_images", "must be uint8 pixels"),
])
def test_malformed_npz_is_refused(tmp_path, content, message):
  path = tmp_path / "data.npz"
  if content == "no_x_train":
    np.savez(path, images=np.zeros((4, 28, 28), np.uint8))
  elif content == "float_images":
    np.savez(path, x_train=np.zeros((4, 28, 28), np.float32))
  else:
    path.write_bytes(content)
  result = run_python(_cli(tmp_path / "run", f"--config.dataset=npz:{path}"))
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert result.stderr.strip().count("\n") == 0


def test_batch_not_divisible_by_devices(tmp_path):
  result = run_python(_cli(tmp_path / "run", "--config.batch_size=6"),
                      env_extra={"XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=4")})
  assert result.returncode == 2
  assert "batch_size=6 must be divisible by the 4 devices" in result.stderr, result.stderr


def test_workdir_with_other_config_cli(tmp_path):
  first = run_python(_cli(tmp_path / "run", "--config.num_steps=10"))
  assert first.returncode == 0, first.stderr[-2000:]
  before = sorted(os.listdir(tmp_path / "run" / "checkpoints"))
  result = run_python(_cli(tmp_path / "run", "--config.num_steps=10", "--config.seed=9"))
  assert result.returncode == 2 and "holds a run with a different config" in result.stderr
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == before


def test_npz_dataset_trains(tiny_config, tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "d.npz"
  np.savez(path, x_train=rng.integers(0, 256, (50, 12, 12), np.uint8),
           y_train=rng.integers(0, 3, 50))
  tiny_config.dataset = f"npz:{path}"
  tiny_config.num_steps = 10
  summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert summary["step"] == 10


def test_tfds_dataset_through_mock_data(tiny_config, tmp_path):
  import tensorflow_datasets as tfds
  tiny_config.dataset = "tfds:mnist"
  tiny_config.num_steps = 10
  with tfds.testing.mock_data(num_examples=40):
    summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert summary["step"] == 10


def _records(*shapes, label=True):
  return [{"image": np.zeros(shape, np.uint8), **({"label": 1} if label else {})}
          for shape in shapes]


@pytest.mark.parametrize("splits,message", [
    ({"train": _records((8, 8, 1), (9, 9, 1))}, "tfds:toy train split images differ in size"),
    ({"train": [{"text": "a"}]}, "tfds:toy train split has no 'image' feature; it has ['text']"),
    ({"train": []}, "tfds:toy train split is empty"),
    ({"train": _records((8, 8, 1)), "test": _records((9, 9, 1))},
     "tfds:toy test images are (9, 9, 1), unlike tfds:toy train images (8, 8, 1)"),
    ({"train": _records((8, 8, 1)), "test": [{"image": np.zeros((8, 8, 1), np.float32)}]},
     "tfds:toy test images must be uint8 pixels"),
])
def test_unusable_tfds_data_are_one_line_errors(monkeypatch, splits, message):
  import tensorflow_datasets as tfds
  from gan_jax import data
  def source(name, split, download):
    del name, download
    if split not in splits:
      raise ValueError(f"no split {split}")
    return splits[split]
  monkeypatch.setattr(tfds, "data_source", source)
  with pytest.raises(UserError) as e:
    data.load("tfds:toy")
  assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
