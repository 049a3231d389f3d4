"""Suspicious but legal settings: one warning line each, recorded in summary.json."""

import json

import numpy as np

from gan_jax import train


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
