"""Progress feedback: a line per log step without the bar, steps/s without evaluation time,
the classifier's training lines, and wall_s over every invocation."""

import json
import re
import time

import numpy as np
import pytest

from conftest import run_python
from gan_jax import evaluation, train
from gan_jax.data import Dataset
from gan_jax.features import classifier

LINE = re.compile(r"^step (\d+)/40  d_loss [-\d.e]+  g_loss [-\d.e]+  [\d.]+ steps/s  "
                  r"ETA \d+:\d\d:\d\d$")


def test_without_the_bar_each_log_step_prints_a_line(tmp_path):
  result = run_python(["-m", "experiments.train", "--config", "experiments/configs/tiny.py",
                       "--workdir", str(tmp_path / "run")])
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  steps = [int(LINE.match(l).group(1)) for l in lines if LINE.match(l)]
  assert steps == [10, 20, 30, 40], lines
  evals = [l for l in lines if l.startswith("eval step ")]
  assert len(evals) == 2 and evals[0].startswith("eval step 20: fid "), lines
  summary = json.load(open(tmp_path / "run" / "summary.json"))
  assert summary["wall_s"] == pytest.approx(summary["wall_s_last"], abs=1e-3)


class _SlowEvaluator:
  """An evaluator that takes EVAL_S seconds."""

  EVAL_S = 1.5
  info = {"features": "pixels", "features_hash": None}
  headline = evaluation.Evaluator.headline

  def metric_names(self):
    return evaluation.FEATURE_METRICS

  def __call__(self, state):
    time.sleep(self.EVAL_S)
    return {"fid": 1.0}


def test_steps_per_sec_leave_evaluation_out(tiny_config, tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(evaluation, "make_evaluator", lambda *a, **k: _SlowEvaluator())
  config = tiny_config
  config.eval_every = config.log_every = config.checkpoint_every = 10
  config.sample_every = 0
  train.train_and_evaluate(config, str(tmp_path / "run"))
  records = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  rates = {r["step"]: r["steps_per_sec"] for r in records}
  # With the evaluation counted, 10 steps after one would run under 10 / 1.5 steps/s.
  assert min(rates[20], rates[30], rates[40]) > 3 * 10 / _SlowEvaluator.EVAL_S, rates
  assert capsys.readouterr().out.count("eval step ") == 4


def test_classifier_training_reports_progress():
  rng = np.random.default_rng(0)
  dataset = Dataset("synthetic", rng.integers(0, 255, (80, 28, 28, 1)).astype(np.uint8),
                    rng.integers(0, 3, 80).astype(np.int32))
  lines = []
  recipe = classifier.Recipe(widths=(4, 8), feature_dim=16, epochs=2, batch_size=16)
  classifier.train(dataset, recipe, report=lines.append)
  total = 2 * (72 // 16)  # 8 held out for the test accuracy.
  assert lines[-1].startswith(f"evaluation classifier: step {total}/{total} (100%), loss ")
  assert len(lines) == total and all("ETA" in l for l in lines)
