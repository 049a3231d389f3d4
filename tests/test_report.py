"""``python -m experiments.report``: the markdown table and the metric plot."""

import json
import os

import pytest

from conftest import run_python


def _run_dir(root, name, *, fid, features_hash="a" * 64, with_eval_json=False, step=40):
  path = root / name
  path.mkdir(parents=True)
  (path / "config.json").write_text(json.dumps(
      {"model": "mlp", "loss": "non_saturating", "dataset": "npz:x.npz", "seed": 0}))
  records = [{"step": 10, "d_loss": 1.0, "g_loss": 1.0},
             {"step": 20, "eval/fid": fid * 2, "eval/kid": 0.5, "eval/precision": 0.4},
             {"step": step, "eval/fid": fid, "eval/kid": 0.25, "eval/precision": 0.6}]
  (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
  info = {"features": "classifier", "features_hash": features_hash,
          "classifier_test_accuracy": 0.9, "num_fake": 100}
  (path / "summary.json").write_text(json.dumps(
      {"step": step, "eval/fid": fid, "eval/kid": 0.25, "eval/precision": 0.6, "wall_s": 12.3,
       "eval_info": info}))
  if with_eval_json:
    metrics = {"fid": {"value": fid / 10}, "kid": {"value": 0.125}, "class_kl": {"value": 0.01}}
    (path / "eval.json").write_text(json.dumps(
        {"step": step, "features": "classifier", "features_hash": features_hash,
         "classifier_test_accuracy": 0.9, "num_fake": 500, "metrics": metrics}))
  return str(path)


def _report(*args):
  return run_python(["-m", "experiments.report", *args])


def test_table_and_plot(tmp_path):
  a = _run_dir(tmp_path, "runs/a", fid=30.0)
  b = _run_dir(tmp_path, "runs/b", fid=20.0, with_eval_json=True)
  out = tmp_path / "report"
  result = _report(a, b, "--out", str(out))
  assert result.returncode == 0, result.stderr[-2000:]
  table = (out / "report.md").read_text()
  assert table in result.stdout
  lines = table.strip().splitlines()
  header = [c.strip() for c in lines[0].strip("|").split("|")]
  assert header[:4] == ["run", "model", "loss", "dataset"]
  assert {"fid", "kid", "precision", "class_kl", "clf acc", "features"} <= set(header)
  rows = {r.split("|")[1].strip(): [c.strip() for c in r.strip("|").split("|")] for r in lines[2:]}
  assert sorted(rows) == ["a", "b"]
  fid = header.index("fid")
  assert rows["a"][fid] == "30" and rows["a"][-1] == "summary.json"
  assert rows["b"][fid] == "2" and rows["b"][-1] == "eval.json"  # eval.json wins.
  assert rows["a"][header.index("class_kl")] == "-"
  assert "not comparable" not in table
  png = (out / "metrics.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_different_feature_extractors_are_flagged(tmp_path):
  a = _run_dir(tmp_path, "x/run", fid=3.0)
  b = _run_dir(tmp_path, "y/run", fid=4.0, features_hash="b" * 64)
  result = _report(a, b, "--out", str(tmp_path / "out"), "--metrics", "fid")
  assert result.returncode == 0, result.stderr[-2000:]
  table = (tmp_path / "out" / "report.md").read_text()
  assert "not comparable" in table
  assert os.path.normpath(a) in table and os.path.normpath(b) in table  # Same names: full paths.


@pytest.mark.parametrize("setup,message", [
    ("missing", "does not exist"),
    ("empty", "has no summary.json, eval.json or metrics.jsonl"),
    ("broken", "summary.json is unreadable"),
    ("none", "give at least one run directory"),
])
def test_bad_inputs(tmp_path, setup, message):
  run = tmp_path / "run"
  if setup in ("empty", "broken"):
    run.mkdir()
  if setup == "broken":
    (run / "summary.json").write_text("{oops")
  args = [] if setup == "none" else [str(run)]
  out = tmp_path / "out"
  result = _report(*args, "--out", str(out))
  assert result.returncode == 2
  assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
  assert result.stderr.strip().count("\n") == 0
  assert not out.exists()


def test_out_is_required(tmp_path):
  result = _report(_run_dir(tmp_path, "a", fid=1.0))
  assert result.returncode == 2 and "--out" in result.stderr
  assert result.stderr.strip().count("\n") == 0


def test_known_metrics_cover_every_evaluation_metric():
  # In its own process: experiments.report defines absl flags at import, which clash with
  # those of another command this worker imported (experiments.sample's --out).
  result = run_python(["-c", "from experiments import report; print(*report.KNOWN_METRICS)"])
  assert result.returncode == 0, result.stderr[-2000:]
  known = set(result.stdout.split())
  from gan_jax import data, evaluation
  names = set(evaluation.METRIC_NAMES) | set(data.source_metrics())
  assert {"modes", "reverse_kl", "fid"} <= names <= known, names - known
