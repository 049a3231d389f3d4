"""experiments.compare: runs configs over seeds through the engine, tabulates and plots FID."""

import json
import os

from conftest import run_python

TINY = "experiments/configs/tiny.py"
SHRINK = ["--set", "num_steps=4", "--set", "steps_per_call=2", "--set", "log_every=2",
          "--set", "eval_every=2", "--set", "sample_every=0", "--set", "checkpoint_every=0"]


def test_compare_trains_every_seed_and_reuses_finished_runs(tmp_path):
  out = tmp_path / "cmp"
  args = ["-m", "experiments.compare", "--out", str(out), "--seeds", "0,1",
          "--run", f"a={TINY} g_learning_rate=1e-3",
          "--run", f"bad={TINY} g_learning_rate=1e999", *SHRINK]
  first = run_python(args)
  assert first.returncode == 0, first.stderr[-2000:]
  table = json.loads((out / "compare.json").read_text())
  assert set(table) == {"a", "bad"}
  row = table["a"]
  assert row["steps"] == [2, 4] and len(row["fid_last"]) == 2
  assert row["fid_mean"][-1] == sum(row["fid_last"]) / 2
  assert row["diverged"] == [None, None]
  # A run that stops on a non-finite loss is reported, not fatal to the comparison.
  assert table["bad"]["steps"] == [] and table["bad"]["diverged"] == [1, 1]
  assert "| bad |" in (out / "compare.md").read_text()
  # Seeds differ, so their FIDs do; the run's own override reached its config.
  assert table["a"]["fid_last"][0] != table["a"]["fid_last"][1]
  saved = json.loads((out / "a" / "seed_0" / "config.json").read_text())
  assert saved["g_learning_rate"] == 1e-3 and saved["seed"] == 0
  for name in ("compare.md", "fid_vs_steps.png", "fid_vs_seconds.png"):
    assert os.path.getsize(out / name) > 0
  assert "| a |" in (out / "compare.md").read_text()
  # A rerun trains nothing: the finished runs' metrics are kept as they are.
  before = (out / "a" / "seed_1" / "metrics.jsonl").read_text()
  from experiments import compare
  compare.main(args[2:])  # In this process: the rerun only reads the runs.
  assert (out / "a" / "seed_1" / "metrics.jsonl").read_text() == before
  assert json.loads((out / "compare.json").read_text()) == table
  # --report_only reads the runs as they are; a run without summary.json stopped early.
  (out / "a" / "seed_1" / "summary.json").unlink()
  compare.main([*args[2:], "--report_only", "--rate", "a=100"])
  report = json.loads((out / "compare.json").read_text())
  assert report["a"]["diverged"] == [None, 4] and report["a"]["steps_per_sec"] == 100
  assert report["a"]["fid_mean"] == table["a"]["fid_mean"]


def test_bad_run_and_override_are_one_line_errors(tmp_path):
  for args, message in [
      (["--run", "nameonly"], "is not NAME=CONFIG_FILE"),
      (["--run", "a=missing.py"], "config file 'missing.py' does not exist"),
      (["--run", f"a={TINY}", "--set", "no_such_key=1"], "unknown config key 'no_such_key'"),
      (["--run", f"a={TINY}", "--seeds", "x"], "is not a comma-separated list of integers"),
      (["--run", f"a={TINY}", "--rate", "b=3"], "NAME must be a --run name")]:
    proc = run_python(["-m", "experiments.compare", "--out", str(tmp_path / "o"), *args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_overrides_read_booleans_as_the_command_line_does_and_a_misfit_is_one_line(capsys):
  import pytest
  from experiments import compare
  from experiments.configs import tiny
  assert compare.parse_assignments(["progress_bar=false", "a=True", "lr=1e-3", "loss=hinge"]) == {
      "progress_bar": False, "a": True, "lr": 1e-3, "loss": "hinge"}
  config = tiny.get_config()
  compare.apply_overrides(config, {"progress_bar": False, "game_hparams.lr": 0.5})
  assert config.progress_bar is False and config.game_hparams.lr == 0.5
  for overrides, message in [({"num_steps": "ten"}, "override num_steps='ten' does not fit"),
                             ({"num_steps.x": 1}, "override num_steps.x=1 does not fit")]:
    with pytest.raises(SystemExit) as stop:
      compare.apply_overrides(config, overrides)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: " + message)
