"""The best checkpoint (checkpoints/best/), its record in summary.json, and --checkpoint."""

import json
import os

import numpy as np
import pytest

from conftest import run_python
from gan_jax import checkpoint, config as config_lib, evaluation, train
from gan_jax.errors import UserError

# Scripted FID per evaluation step: best at 20, then worse; the resume beats it at 50.
SCRIPT = {10: 5.0, 20: 3.0, 30: 4.0, 40: 6.0, 50: 2.0, 60: float("nan")}


class _ScriptedEvaluator:
  """Stands in for gan_jax.evaluation.Evaluator: the FID of SCRIPT at the state's step."""

  info = {"features": "pixels", "features_hash": None, "split": "train", "num_real": 1,
          "num_fake": 1}
  headline = evaluation.Evaluator.headline

  def metric_names(self):
    return evaluation.FEATURE_METRICS

  def __call__(self, state):
    return {"fid": SCRIPT[int(state.step)], "kid": 0.0}


def _config(tiny_config, num_steps):
  config = tiny_config
  config.num_steps = num_steps
  config.eval_every = config.checkpoint_every = config.log_every = 10
  config.sample_every = 0
  config.keep_checkpoints = 1
  return config


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
  """A 40-step run whose evaluations follow SCRIPT, then resumed to 60 steps."""
  from experiments.configs import tiny
  patch = pytest.MonkeyPatch()
  patch.setattr(evaluation, "make_evaluator", lambda *a, **k: _ScriptedEvaluator())
  workdir = str(tmp_path_factory.mktemp("best") / "run")
  try:
    first = train.train_and_evaluate(_config(tiny.get_config(), 40), workdir)
    after_first = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    second = train.train_and_evaluate(_config(tiny.get_config(), 60), workdir)
  finally:
    patch.undo()
  return workdir, first, after_first, second


def test_best_checkpoint_survives_keep_checkpoints(scripted_run):
  workdir, first, after_first, _ = scripted_run
  assert first["best"] == {"step": 20, "metric": "fid", "value": 3.0}
  assert after_first == ["40", "best"]  # keep_checkpoints=1 deleted 10, 20 and 30.


def test_best_is_kept_across_resume_and_nan_never_wins(scripted_run):
  workdir, first, _, second = scripted_run
  assert second["best"] == {"step": 50, "metric": "fid", "value": 2.0}
  assert os.listdir(os.path.join(workdir, "checkpoints", "best")) == ["50"]
  assert checkpoint.best_record(workdir)["step"] == 50


def test_wall_s_sums_every_invocation(scripted_run):
  _, first, _, second = scripted_run
  assert first["wall_s"] == pytest.approx(first["wall_s_last"], abs=1e-3)
  # The second invocation resumed from step 40, saved with the first's time until then.
  assert second["wall_s"] > second["wall_s_last"] + 0.5 * first["wall_s_last"]


def test_best_restores_the_best_state(scripted_run, tiny_config):
  workdir = scripted_run[0]
  config = _config(tiny_config, 60)
  _, _, template = train.build(config, (28, 28, 1))
  run_config = config_lib.fingerprinted(config)
  best = checkpoint.restore_choice(workdir, "best", template, run_config)
  latest = checkpoint.restore_choice(workdir, "latest", template, run_config)
  assert (int(best.step), int(latest.step)) == (50, 60)
  with pytest.raises(UserError, match=r"no checkpoint of step 20; its checkpoints: 60, best"):
    checkpoint.restore_choice(workdir, 20, template, run_config)


def test_resume_with_another_metric_starts_a_new_best(scripted_run, tiny_config, tmp_path):
  import shutil
  workdir = str(tmp_path / "run")
  shutil.copytree(scripted_run[0], workdir)
  config = _config(tiny_config, 60)
  config.best_metric, config.best_mode = "kid", "max"
  assert train._previous_best(config, workdir) is None  # pylint: disable=protected-access
  config.best_metric, config.best_mode = "fid", "min"
  assert train._previous_best(config, workdir)["value"] == 2.0  # pylint: disable=protected-access


def test_a_new_best_before_the_stored_one_replaces_it(scripted_run, tiny_config, tmp_path,
                                                    monkeypatch):
  import shutil
  workdir = str(tmp_path / "run")
  shutil.copytree(scripted_run[0], workdir)
  shutil.rmtree(os.path.join(workdir, "checkpoints", "60"))  # Restarts from step 0.
  monkeypatch.setattr(evaluation, "make_evaluator", lambda *a, **k: _ScriptedEvaluator())
  config = _config(tiny_config, 20)
  config.best_metric, config.best_mode = "kid", "max"  # Not comparable with the stored FID best.
  summary = train.train_and_evaluate(config, workdir)
  assert summary["best"] == {"step": 10, "metric": "kid", "value": 0.0}
  assert os.listdir(os.path.join(workdir, "checkpoints", "best")) == ["10"]
  assert checkpoint.best_record(workdir) == {**summary["best"], "mode": "max"}


@pytest.mark.parametrize("text,expected", [("latest", "latest"), ("best", "best"), ("40", 40)])
def test_parse_choice(text, expected):
  assert checkpoint.parse_choice(text) == expected


@pytest.mark.parametrize("key,value,message", [
    ("best_metric", "fidd", "config.best_metric='fidd' is not allowed"),
    ("best_mode", "lowest", "config.best_mode='lowest' is not allowed; it must be one of min, max"),
    ("best_metric", "class_kl", "eval_features='pixels' has no class probabilities"),
])
def test_bad_best_settings_are_refused(tiny_config, key, value, message):
  tiny_config[key] = value
  with pytest.raises(UserError, match=message):
    config_lib.validate(tiny_config)


def _evaluate(*args):
  return run_python(["-m", "experiments.evaluate", *args])


def test_evaluate_cli_chooses_the_checkpoint(scripted_run):
  workdir = scripted_run[0]
  result = _evaluate("--workdir", workdir, "--checkpoint", "best")
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.load(open(os.path.join(workdir, "eval_best.json")))
  assert report["checkpoint"] == "best" and report["step"] == 50
  assert report["best"] == {"step": 50, "metric": "fid", "value": 2.0}
  assert np.isfinite(report["metrics"]["fid"]["value"])
  assert not os.path.exists(os.path.join(workdir, "eval.json"))
  for flag, message in [("20", "has no checkpoint of step 20; its checkpoints: 60, best"),
                        ("last", "--checkpoint='last' is not allowed")]:
    result = _evaluate("--workdir", workdir, "--checkpoint", flag)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
