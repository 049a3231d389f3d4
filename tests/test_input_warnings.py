"""Suspicious but legal settings: one warning line each, recorded in summary.json."""

import json

import numpy as np

from gan_jax import features, train


def _npz(tmp_path, n):
  path = tmp_path / "d.npz"
  rng = np.random.default_rng(0)
  np.savez(path, x_train=rng.integers(0, 256, (n, 12, 12), np.uint8))
  return f"npz:{path}"


def test_warnings_reach_the_log_and_the_summary(tiny_config, tmp_path, caplog):
  tiny_config.dataset = _npz(tmp_path, 8)  # batch 16 from 8 images; 100 eval samples from 8.
  tiny_config.num_steps = 10
  tiny_config.eval_every = 10
  tiny_config.loss = "minimax"
  tiny_config.game_optimizer = "acgd"
  tiny_config.game_hparams.cg_max_iters = 2
  summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  warnings = summary["warnings"]
  assert len(warnings) == 3, warnings
  assert "config.batch_size=16 is larger than the data set (8 images)" in warnings[0]
  assert "config.num_eval_samples=100 is more than the 8 real images" in warnings[1]
  assert "config.loss='minimax' with config.game_optimizer='acgd'" in warnings[2]
  assert json.loads((tmp_path / "run" / "summary.json").read_text())["warnings"] == warnings
  logged = [r.getMessage() for r in caplog.records]
  assert all(any(w in line for line in logged) for w in warnings)
  assert all("\n" not in w for w in warnings)


def test_a_plain_run_has_no_warnings(tiny_config, tmp_path):
  tiny_config.num_steps = 10
  assert train.train_and_evaluate(tiny_config, str(tmp_path / "run"))["warnings"] == []


def test_a_weak_evaluation_classifier_is_one_warning_in_the_summary(tiny_config, tmp_path,
                                                                     monkeypatch, caplog):
  # An extractor whose classifier scored 0.68 on its test split, like a badly trained one.
  reg = features._REGISTRY  # pylint: disable=protected-access
  monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # pylint: disable=protected-access

  def embed(images):
    flat = images.reshape(len(images), -1).astype(np.float64)
    return flat[:, :8], np.full((len(images), 10), 0.1)

  features.register("weak_classifier", lambda config, dataset: features.FeatureExtractor(
      "weak_classifier", "0", embed, 10, {"test_accuracy": 0.68}))
  tiny_config.update(dict(eval_features="weak_classifier", num_steps=10, eval_every=10,
                          num_eval_samples=50))
  summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  expected = ("the evaluation classifier's test accuracy is 0.680, below 0.9: its FID, KID and "
              "class metrics are unreliable")
  assert summary["warnings"] == [expected]
  assert any(expected in r.getMessage() for r in caplog.records)
