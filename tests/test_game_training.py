"""Game-aware optimizers selected by config run inside the one train step."""

import json

import pytest

from gan_jax import train
from gan_jax.errors import UserError


@pytest.mark.parametrize("name,hparams", [("cgd", {"lr": 1e-3, "cg_max_iters": 3}),
                                          ("extra_adam", {"lr_x": 2e-4, "lr_y": 2e-4}),
                                          ("lookahead", {"k": 3})])
def test_game_optimizer_trains_by_config(tiny_config, tmp_path, name, hparams):
  tiny_config.loss = "minimax"
  tiny_config.game_optimizer = name
  tiny_config.game_hparams.update(hparams)
  tiny_config.num_steps = 10
  tiny_config.eval_every = 0
  summary = train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert summary["step"] == 10
  records = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  assert records[-1]["g_loss"] == pytest.approx(-records[-1]["d_loss"], rel=1e-5)  # zero-sum
  if name == "cgd":
    assert 1 <= records[-1]["cg_iterations"] <= 3


def test_game_settings_are_validated(tiny_config, tmp_path):
  tiny_config.game_optimizer = "cgd"
  tiny_config.game_hparams.cg_max_iters = 0
  with pytest.raises(UserError, match="config.game_hparams"):
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  tiny_config.game_hparams.cg_max_iters = 3
  tiny_config.d_steps_per_g_step = 2
  with pytest.raises(UserError, match="d_steps_per_g_step=2 must be 1"):
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
