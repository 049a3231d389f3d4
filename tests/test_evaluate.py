"""Evaluation during training, ``python -m experiments.evaluate``, and the extra metrics."""

import json
import os

import jax
import numpy as np
import pytest

from conftest import brightness_of, read_brightness, run_python
from gan_jax import evaluation, features, train
from gan_jax import state as state_lib
from gan_jax.data import Dataset

METRICS = ("pixel_fd", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
           "classifier_score", "classifier_score_std", "class_kl", "d_real", "d_fake")


def synthetic_npz(path, seed=0):
  """3 classes of 28x28 noise images with a bar whose height gives the class."""
  rng = np.random.default_rng(seed)

  def split(n):
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, y in enumerate(labels):
      images[i, 3 + 8 * y:9 + 8 * y, 4:24] = 220
    return images, labels

  x_train, y_train = split(256)
  x_test, y_test = split(80)
  np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
  return str(path)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """A 40-step tiny run on labelled synthetic data, evaluated at step 40."""
  from experiments.configs import tiny
  root = tmp_path_factory.mktemp("evaluate")
  config = tiny.get_config()
  config.dataset = "npz:" + synthetic_npz(root / "data.npz")
  config.eval_features = "classifier"  # tiny.py uses pixels to keep smoke runs fast.
  config.eval_classifier_cache_dir = str(root / "classifiers")
  config.num_eval_samples = 60
  config.eval_every = 40
  workdir = str(root / "run")
  summary = train.train_and_evaluate(config, workdir)
  return workdir, summary, config


def test_training_writes_eval_metrics(trained_run):
  workdir, summary, _ = trained_run
  records = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  evals = [r for r in records if "eval/fid" in r]
  assert [r["step"] for r in evals] == [40]
  for name in METRICS:
    assert all(np.isfinite(r["eval/" + name]) for r in evals), name
    assert summary["eval/" + name] == evals[-1]["eval/" + name]
  info = summary["eval_info"]
  assert info["features"] == "classifier" and len(info["features_hash"]) == 64
  assert info["split"] == "eval" and info["num_real"] == info["num_fake"] == 60
  assert 0.0 <= info["classifier_test_accuracy"] <= 1.0
  assert info["features_info"]["test_split"] == "eval"
  assert len(os.listdir(os.path.dirname(info["features_info"]["path"]))) == 1  # One cache entry.
  assert 0.0 <= summary["eval/class_kl"] <= np.log(3) + 1e-9


def _cli(*args):
  return run_python(["-m", "experiments.evaluate", *args])


def test_evaluate_cli_matches_the_runs_last_evaluation(trained_run):
  workdir, summary, _ = trained_run
  result = _cli("--workdir", workdir)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "eval.json" in result.stdout and "classifier features" in result.stdout
  report = json.load(open(os.path.join(workdir, "eval.json")))
  assert report["step"] == 40 and report["params_sha256"] == summary["params_sha256"]
  assert report["features"] == "classifier"
  assert report["features_hash"] == summary["eval_info"]["features_hash"]
  assert report["classifier_test_accuracy"] == summary["eval_info"]["classifier_test_accuracy"]
  assert report["config_keys_from_defaults"] == []
  assert set(report["metrics"]) == set(METRICS)
  for name in METRICS:  # Same latents and real images as the run's evaluation at step 40.
    assert report["metrics"][name]["value"] == pytest.approx(summary["eval/" + name], rel=1e-6,
                                                             abs=1e-9), name
  fid = report["metrics"]["fid"]
  assert fid == {"value": fid["value"], "num_real": 60, "num_fake": 60, "split": "eval",
                 "features": "classifier", "features_hash": report["features_hash"]}
  assert report["metrics"]["class_kl"]["num_real"] == 0
  assert report["metrics"]["pixel_fd"]["features"] == "pixels"


def test_evaluate_cli_num_samples_and_parzen(trained_run, tmp_path):
  workdir, _, _ = trained_run
  result = _cli("--workdir", workdir, "--num_samples", "30", "--parzen")
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.load(open(os.path.join(workdir, "eval.json")))
  assert report["num_fake"] == report["num_real"] == 30
  assert report["metrics"]["kid"]["num_fake"] == 30
  parzen = report["metrics"]["parzen_ll"]
  assert np.isfinite(parzen["value"]) and parzen["num_real"] == 30
  assert report["metrics"]["parzen_sigma"]["value"] in evaluation.PARZEN_SIGMAS


def test_evaluate_warns_of_more_samples_than_real_images(trained_run):
  workdir, _, _ = trained_run
  result = _cli("--workdir", workdir, "--num_samples", "200")
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.load(open(os.path.join(workdir, "eval.json")))
  assert report["num_real"] == 80 and report["num_fake"] == 200  # The 80 test images.
  expected = ("200 generated samples are compared with only 80 real images of the eval split: "
              "the metrics are biased; use at most 80 samples")
  assert report["warnings"] == [expected]
  assert f"warning: {expected}" in result.stderr.splitlines()


def _bad_workdirs(tmp_path):
  no_config = tmp_path / "no_config"
  no_config.mkdir()
  no_ckpt = tmp_path / "no_ckpt"
  no_ckpt.mkdir()
  (no_ckpt / "config.json").write_text("{}")
  broken = tmp_path / "broken"
  broken.mkdir()
  (broken / "config.json").write_text("{not json")
  return {"missing": (str(tmp_path / "missing"), "does not exist"),
          "no_config": (str(no_config), "has no config.json"),
          "no_ckpt": (str(no_ckpt), "has no checkpoint to evaluate"),
          "broken": (str(broken), "config.json is unreadable")}


@pytest.mark.parametrize("case", ["missing", "no_config", "no_ckpt", "broken"])
def test_bad_workdir_is_one_line_error(tmp_path, case):
  workdir, message = _bad_workdirs(tmp_path)[case]
  result = _cli("--workdir", workdir)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
  assert result.stderr.strip().count("\n") == 0, result.stderr
  assert not os.path.exists(os.path.join(workdir, "eval.json"))


def test_missing_workdir_flag():
  result = _cli()
  assert result.returncode == 2 and result.stderr.startswith("error: ")
  assert "--workdir" in result.stderr and result.stderr.strip().count("\n") == 0


def test_unlabelled_data_fall_back_to_pixels_and_evaluation_is_deterministic(tiny_config):
  tiny_config.eval_features = "classifier"  # Asked for, but the data have no labels.
  rng = np.random.default_rng(0)
  dataset = Dataset("npz:unlabelled.npz", rng.integers(0, 256, (50, 8, 8, 1), dtype=np.uint8))
  generator, discriminator, state = train.build(tiny_config, dataset.image_shape)
  evaluator = evaluation.make_evaluator(
      tiny_config, generator=generator, discriminator=discriminator, dataset=dataset,
      key=jax.random.PRNGKey(3), num_samples=40)
  assert evaluator.info["features"] == "pixels" and evaluator.info["split"] == "train"
  assert "has no labels" in evaluator.info["note"]
  view = state_lib.for_inference(state)
  first, second = evaluator(view), evaluator(view)
  assert first == second
  assert "class_kl" not in first and first["fid"] == first["pixel_fd"]


def _digit_extractor():
  """Reads a 'digit' off the mean brightness of a channel: 0..9 as one-hot probabilities."""
  return features.FeatureExtractor("fake", "0", read_brightness, 10)


def test_stacked_mnist_mode_stats():
  digits = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [0, 0, 9]])
  images = np.repeat(brightness_of(digits)[:, None, None, :], 28, axis=1)
  images = np.repeat(images, 28, axis=2)
  stats = evaluation.stacked_mnist_mode_stats(_digit_extractor(), images)
  assert stats["modes"] == 3
  counts = np.array([2, 1, 1]) / 4
  assert stats["kl"] == pytest.approx(float(np.sum(counts * np.log(counts * 1000))))
  with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
    evaluation.stacked_mnist_mode_stats(_digit_extractor(), images[..., :1])


def test_parzen_log_likelihood_picks_a_bandwidth_on_validation():
  rng = np.random.default_rng(0)
  samples = rng.integers(0, 256, (40, 4, 4, 1)).astype(np.uint8)
  near = np.clip(samples.astype(int) + rng.integers(-3, 4, samples.shape), 0, 255).astype(np.uint8)
  result = evaluation.parzen_log_likelihood(samples, near[:20], near[20:])
  assert result["parzen_sigma"] == evaluation.PARZEN_SIGMAS[0]  # Nearby points: narrowest.
  far = evaluation.parzen_log_likelihood(samples, near[:20], 255 - near[20:])
  assert far["parzen_ll"] < result["parzen_ll"] and np.isfinite(result["parzen_ll_se"])
