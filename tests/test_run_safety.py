"""Issue 19 through the command line: no lost, mixed or blocked runs, one-line errors.

Each case checks the exit code, the one-line message and, where a workdir
exists, that none of its files changed (hashes before and after).
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_python

TINY = "experiments/configs/tiny.py"
# The tiny config, shorter: 20 steps, checkpoints at 10 and 20, no evaluation.
SHORT = ("--config.num_steps=20", "--config.checkpoint_every=10", "--config.log_every=5",
         "--config.eval_every=0", "--config.sample_every=0")


def _train(workdir, *args, config=TINY):
  return run_python(["-m", "experiments.train", *(["--config", config] if config else []),
                     "--workdir", str(workdir), *args])


def _hashes(workdir) -> dict:
  """Every file under ``workdir`` -> its SHA-256."""
  out = {}
  for root, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
  return out


def _one_line_error(result, message, status=2):
  assert result.returncode == status, result.stderr[-3000:]
  assert result.stderr.strip().count("\n") == 0, result.stderr[-3000:]
  assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished SHORT run (its workdir) and its params_sha256."""
  workdir = tmp_path_factory.mktemp("finished") / "run"
  result = _train(workdir, *SHORT)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, json.load(open(workdir / "summary.json"))["params_sha256"]


@pytest.fixture
def copy_of_finished(finished, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(finished[0], workdir)
  return workdir


def _bad_config_file(tmp_path):
  path = tmp_path / "broken.py"
  path.write_text("from experiments.configs import tiny\n\ndef get_config(:\n  return None\n")
  return str(path)


BAD = [
    # (use --config tiny, overrides, message)
    (False, ("--config.no_such_key=1",), "unknown config key 'no_such_key' on the command line"),
    (True, ("--config.no_such_key=1",), "unknown config key 'no_such_key' on the command line"),
    (False, ("--config.sed=1",), "unknown config key 'sed' on the command line (did you mean "
                                 "'seed'?)"),
    (True, ("--config.lerning_rate=1",), "(did you mean 'g_learning_rate'?)"),
    (False, ("--config.game_optimizer=cgd", "--config.game_hparams.lrr=0.01"),
     "config.game_hparams.lrr is not a hyperparameter of config.game_optimizer='cgd' (did you "
     "mean 'lr'?); allowed: lr, "),
    (True, ("--config.game_optimizer=sga", "--config.game_hparams.cg_max_iters=3"),
     "config.game_hparams.cg_max_iters is not a hyperparameter of config.game_optimizer='sga'"),
    (True, ("--config.game_hparams.lr=0.01",), "config.game_optimizer='none'"),
    (True, ("--config.seed.x=1",), "config.seed holds no keys; only game_hparams.KEY"),
    (True, ("--config.seed=18446744073709551617",),
     "config.seed=18446744073709551617 is not allowed; it must be an integer in [0, 4294967295]"),
    (False, ("--config.seed=4294967296",), "an integer in [0, 4294967295]"),
    (True, ("--config.num_steps=0",), "config.num_steps=0 is not allowed; it must be an integer "
                                      ">= 1"),
]


@pytest.mark.parametrize("with_config,overrides,message", BAD)
def test_bad_override_is_one_line_and_changes_nothing(copy_of_finished, with_config, overrides,
                                                      message):
  before = _hashes(copy_of_finished)
  result = _train(copy_of_finished, *overrides, config=TINY if with_config else None)
  _one_line_error(result, message)
  assert _hashes(copy_of_finished) == before


def test_wrong_nested_key_of_a_config_file_names_the_allowed_keys(copy_of_finished):
  before = _hashes(copy_of_finished)
  result = _train(copy_of_finished, "--config.game_hparams.cg_max_iter=3",
                  config="experiments/configs/cgd.py")
  from experiments.configs import cgd
  name = cgd.get_config().game_optimizer
  _one_line_error(result, "config.game_hparams.cg_max_iter is not a hyperparameter of "
                          f"config.game_optimizer={name!r} (did you mean 'cg_max_iters'?); "
                          "allowed: lr, ")
  assert _hashes(copy_of_finished) == before


def test_config_file_that_does_not_parse_names_file_and_line(copy_of_finished, tmp_path):
  before = _hashes(copy_of_finished)
  path = _bad_config_file(tmp_path)
  _one_line_error(_train(copy_of_finished, config=path),
                  f"config file {path!r} does not parse: invalid syntax at line 3")
  assert _hashes(copy_of_finished) == before


def test_nested_overrides_work_with_the_default_config(tmp_path):
  small = ("--config.hidden_dims=(16,)", "--config.latent_dim=8", "--config.batch_size=8",
           "--config.num_steps=10", "--config.steps_per_call=5", "--config.log_every=5",
           "--config.eval_every=0", "--config.sample_every=0", "--config.checkpoint_every=0",
           "--config.progress_bar=false")
  result = _train(tmp_path / "run", "--config.game_optimizer=cgd", "--config.game_hparams.lr=0.01",
                  "--config.game_hparams.cg_max_iters=3", *small, config=None)
  assert result.returncode == 0, result.stderr[-3000:]
  saved = json.load(open(tmp_path / "run" / "config.json"))
  assert saved["game_optimizer"] == "cgd"
  assert saved["game_hparams"] == {"lr": 0.01, "cg_max_iters": 3}


def test_nested_overrides_work_with_a_config_file(tmp_path):
  # A check after parsing fails: the overrides were parsed and applied.
  result = _train(tmp_path / "run", "--config.game_optimizer=cgd", "--config.game_hparams.lr=0.01",
                  "--config.game_hparams.cg_max_iters=3", "--config.d_steps_per_g_step=2")
  _one_line_error(result, "config.d_steps_per_g_step=2 must be 1 with config.game_optimizer='cgd'")
  assert not os.path.exists(tmp_path / "run")


def test_failure_before_the_first_checkpoint_leaves_a_usable_workdir(finished, tmp_path):
  workdir = tmp_path / "run"
  failed = _train(workdir, *SHORT, "--config.g_learning_rate=inf")
  _one_line_error(failed, "non-finite loss or gradient at step 1", status=1)
  corrected = _train(workdir, *SHORT)
  assert corrected.returncode == 0, corrected.stderr[-3000:]
  assert json.load(open(workdir / "summary.json"))["params_sha256"] == finished[1]
  steps = [json.loads(line)["step"] for line in open(workdir / "metrics.jsonl")]
  assert steps == [5, 10, 15, 20]


def test_resume_with_hand_edited_config_json_is_refused(copy_of_finished):
  path = copy_of_finished / "config.json"
  saved = json.load(open(path))
  saved["seed"] = 1
  path.write_text(json.dumps(saved))
  before = _hashes(copy_of_finished)
  result = _train(copy_of_finished, *SHORT[1:], "--config.num_steps=30", "--config.seed=1")
  _one_line_error(result, "the checkpoint of step 20 in ")
  assert "different config (seed: 0 there, 1 now), whatever config.json says" in result.stderr
  assert _hashes(copy_of_finished) == before


def test_resume_with_other_config_changes_nothing(copy_of_finished):
  before = _hashes(copy_of_finished)
  result = _train(copy_of_finished, *SHORT, "--config.latent_dim=8")
  _one_line_error(result, "holds a run with a different config (latent_dim: 16 there, 8 now)")
  assert _hashes(copy_of_finished) == before


def _read_only(path):
  """A command prefix that runs the command with ``path`` read-only, or skips the test."""
  if os.geteuid() != 0:
    os.chmod(path, 0o555)
    return []
  probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
  if probe.returncode != 0:
    pytest.skip("root without mount namespaces: cannot make a read-only directory")
  return ["unshare", "-m", "sh", "-c",
          f'mount --bind "{path}" "{path}" && mount -o remount,bind,ro "{path}" && exec "$@"',
          "sh"]


def _train_read_only(path, workdir, *args):
  prefix = _read_only(path)
  command = [*prefix, sys.executable, "-m", "experiments.train", "--config", TINY, "--workdir",
             str(workdir), *args]
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_extending_a_run_in_a_read_only_workdir_changes_nothing(copy_of_finished):
  before = _hashes(copy_of_finished)
  result = _train_read_only(copy_of_finished, copy_of_finished, *SHORT[1:],
                            "--config.num_steps=30")
  _one_line_error(result, f"workdir {str(copy_of_finished)!r} is not writable")
  assert _hashes(copy_of_finished) == before
  assert json.load(open(copy_of_finished / "config.json"))["num_steps"] == 20


def test_workdir_in_a_read_only_folder_is_one_line(tmp_path):
  parent = tmp_path / "ro"
  parent.mkdir()
  result = _train_read_only(parent, parent / "run", *SHORT)
  _one_line_error(result, f"cannot create workdir {str(parent / 'run')!r}: {parent} is not "
                          "writable")
  assert os.listdir(parent) == []


LONG = ("--config.num_steps=3000", "--config.checkpoint_every=100", "--config.log_every=100",
        "--config.sample_every=0", "--config.eval_every=0")


def test_busy_workdir_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
  workdir = tmp_path / "run"
  holder = subprocess.Popen([sys.executable, "-m", "experiments.train", "--config", TINY,
                             "--workdir", str(workdir), *LONG], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 120
    ckpt = workdir / "checkpoints"
    while not (ckpt.is_dir() and any(d.isdigit() for d in os.listdir(ckpt))):
      assert time.time() < deadline and holder.poll() is None, holder.stderr.read()[-3000:]
      time.sleep(0.05)
    second = _train(workdir, *LONG)
    _one_line_error(second, f"workdir {str(workdir)!r} is in use by process {holder.pid} ")
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  assert (workdir / ".lock").read_text().strip() == str(holder.pid)  # Left by the dead run.
  step = max(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
  resumed = _train(workdir, *LONG[1:], f"--config.num_steps={step + 100}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert not (workdir / ".lock").exists()


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  # A process holding the workdir's lock as a run does, then killed.
  locker = subprocess.Popen([sys.executable, "-c", (
      "import fcntl, os, sys, time\n"
      f"fd = os.open({str(workdir)!r}, os.O_RDONLY)\n"
      "fcntl.flock(fd, fcntl.LOCK_EX)\n"
      f"open({str(workdir / '.lock')!r}, 'w').write(str(os.getpid()))\n"
      "print('locked', flush=True)\n"
      "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
  assert locker.stdout.readline().strip() == "locked"
  busy = _train(workdir, *SHORT)
  _one_line_error(busy, f"is in use by process {locker.pid} ")
  assert os.listdir(workdir) == [".lock"]
  locker.kill()
  locker.wait()
  result = _train(workdir, *SHORT)
  assert result.returncode == 0, result.stderr[-3000:]


def test_metrics_jsonl_corrupt_line_and_records_past_the_checkpoint(copy_of_finished, finished):
  path = copy_of_finished / "metrics.jsonl"
  lines = path.read_text().splitlines(keepends=True)
  assert [json.loads(l)["step"] for l in lines] == [5, 10, 15, 20]
  lines[0] = '{"step": 5, "d_lo\n'  # A corrupt line.
  path.write_text("".join(lines))
  shutil.rmtree(copy_of_finished / "checkpoints" / "20")  # As if killed before saving it.
  os.remove(copy_of_finished / "summary.json")
  result = _train(copy_of_finished, *SHORT)
  assert result.returncode == 0, result.stderr[-3000:]
  warnings = [l for l in result.stderr.splitlines() if "metrics.jsonl" in l]
  assert len(warnings) == 2, result.stderr[-3000:]
  assert "line 1 is not a JSON record" in warnings[0] and "other 3 records are kept" in warnings[0]
  assert "dropped 2 records of steps after 10" in warnings[1]
  records = [json.loads(l) for l in open(path)]
  assert [r["step"] for r in records] == [10, 15, 20]
  assert json.load(open(copy_of_finished / "summary.json"))["params_sha256"] == finished[1]
  # TensorBoard, reading both invocations' event files, sees each step once:
  # the second file purges the steps after the checkpoint it resumed from.
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(copy_of_finished / "tensorboard"))
  events.Reload()
  assert len(os.listdir(copy_of_finished / "tensorboard")) == 2
  assert [e.step for e in events.Scalars("d_loss")] == [5, 10, 15, 20]


def test_metrics_records_are_written_whole(tmp_path):
  from gan_jax import reporting
  log = reporting.MetricsLog(str(tmp_path), 0)
  log.write(5, {"d_loss": 1.0})
  # Flushed at once: a reader (or a crash) sees whole lines only.
  assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 5, "d_loss": 1.0}\n'
  log.close()


def test_a_file_replaced_whole_keeps_its_old_content_when_the_writer_fails(tmp_path):
  from gan_jax import reporting
  path = tmp_path / "results.md"
  path.write_text("old")
  with pytest.raises(RuntimeError):
    with reporting.replaced_whole(str(path)) as tmp, open(tmp, "w") as f:
      f.write("half")
      raise RuntimeError("stopped midway")
  assert path.read_text() == "old"
  assert os.listdir(tmp_path) == ["results.md"]  # No temporary file left behind.
  with reporting.replaced_whole(str(path)) as tmp, open(tmp, "w") as f:
    f.write("new")
  assert path.read_text() == "new"


@pytest.mark.parametrize("module", ["experiments.train", "experiments.evaluate",
                                    "experiments.report", "experiments.benchmark"])
def test_help_exits_zero(module):
  result = run_python(["-m", module, "--help"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert "--" in result.stdout


def test_train_help_lists_the_configs_and_where_keys_are_documented():
  result = run_python(["-m", "experiments.train", "--help"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert "  tiny                 A seconds-long MLP GAN for tests and smoke runs." in result.stdout
  for name in os.listdir(os.path.join(ROOT, "experiments", "configs")):
    if name.endswith(".py") and not name.startswith("_"):
      assert f"  {name[:-3]} " in result.stdout, name
  assert "experiments/configs/default.py" in result.stdout


def test_report_unknown_metric_is_one_line(finished, tmp_path):
  out = tmp_path / "out"
  result = run_python(["-m", "experiments.report", str(finished[0]), "--out", str(out),
                       "--metrics", "fid,fdi"])
  _one_line_error(result, "--metrics: unknown metric 'fdi' (did you mean 'fid'?); known: ")
  assert not out.exists()


def test_ctrl_c_during_imports_and_flag_parsing_is_exit_130_and_one_line(tmp_path):
  proc = subprocess.Popen([sys.executable, "-m", "experiments.train", "--config", TINY,
                           "--workdir", str(tmp_path / "run"), *SHORT], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(0.5)  # Python is up; the command is importing or parsing its flags.
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr[-3000:]
  assert stderr.strip().count("\n") == 0 and stderr.startswith("interrupted: "), stderr[-3000:]
  assert not (tmp_path / "run").exists()


def test_ctrl_c_before_the_loop_is_exit_130_and_one_line(tmp_path):
  workdir = tmp_path / "run"
  proc = subprocess.Popen([sys.executable, "-m", "experiments.train", "--config", TINY,
                           "--workdir", str(workdir), *SHORT], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert proc.stdout.readline().startswith("workdir: ")  # Flags parsed, start-up under way.
  deadline = time.time() + 60
  while not (workdir / ".lock").exists() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.01)
  assert (workdir / ".lock").exists(), "the run never took the workdir's lock"
  proc.send_signal(signal.SIGINT)  # The lock is held: building or compiling.
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr[-3000:]
  assert stderr.strip().count("\n") == 0 and stderr.startswith("interrupted: "), stderr[-3000:]
  assert not (workdir / ".lock").exists()  # Nothing stale for the next run to take over.


def test_an_interrupt_while_the_lock_file_is_written_leaves_none(tmp_path, monkeypatch):
  from gan_jax import workdir as workdir_lib
  seen = []

  def interrupted_getpid():  # Called while the lock file is being written.
    seen.append(list(workdir_lib._HELD))  # pylint: disable=protected-access
    monkeypatch.undo()
    raise KeyboardInterrupt

  monkeypatch.setattr(workdir_lib.os, "getpid", interrupted_getpid)
  with pytest.raises(KeyboardInterrupt):
    with workdir_lib.locked(str(tmp_path / "run")):
      pass
  # Ctrl-C's os._exit path tidies what _HELD lists: the lock was listed before its file existed.
  assert seen and seen[0][-1][0] == str(tmp_path / "run" / ".lock")
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["mog_table", "compare"])
def test_a_signal_ends_a_table_command_with_one_line_and_no_record(command, tmp_path, monkeypatch,
                                                                    capsys):
  from experiments import compare, mog_table
  from gan_jax import train
  from gan_jax.errors import Interrupted

  def stopped_by_sigterm(config, workdir):  # What the engine raises once its checkpoint is saved.
    raise Interrupted(int(signal.SIGTERM), 7)

  monkeypatch.setattr(train, "train_and_evaluate", stopped_by_sigterm)
  out = tmp_path / "out"
  main, argv = {
      "mog_table": (mog_table.main, ["--seeds", "1", "--optimizers", "adam", "--datasets", "ring"]),
      "compare": (compare.main, ["--run", f"a={ROOT}/experiments/configs/tiny.py"]),
  }[command]
  with pytest.raises(SystemExit) as stop:
    main([*argv, "--out", str(out)])
  assert stop.value.code == 128 + signal.SIGTERM
  assert capsys.readouterr().err.strip().splitlines() == [
      "interrupted: stopped by signal 15 at step 7; checkpoint saved, re-run the same command "
      "to resume"]
  assert not (out / "runs.jsonl").exists() and not (out / "compare.json").exists()
