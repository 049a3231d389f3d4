"""Every ready config of experiments/configs runs end to end, shrunk to seconds."""

import importlib
import json
import os

import pytest

from gan_jax import config as config_lib, train

ZOO = ["dcgan", "wgan_gp", "sngan_hinge", "projection_cgan", "acgan", "lsgan", "vae", "cgd", "acgd",
       "stacked_mnist"]


def _tiny(config):
  """Keeps what the config is (model, loss, regularizer, conditioning); shrinks the rest."""
  config.width = 4
  config.hidden_dims = (16,)
  config.latent_dim = 8
  config.batch_size = 8
  config.num_steps = 2
  config.steps_per_call = 2
  config.log_every = 2
  config.sample_every = 0
  config.checkpoint_every = 0
  config.eval_every = 0
  config.num_eval_samples = 16
  config.progress_bar = False
  return config


@pytest.mark.parametrize("name", ZOO)
def test_config_trains_and_writes_the_workdir(name, tmp_path):
  config = _tiny(importlib.import_module(f"experiments.configs.{name}").get_config())
  config_lib.validate(config)
  workdir = tmp_path / name
  summary = train.train_and_evaluate(config, str(workdir))
  assert summary["step"] == 2 and len(summary["params_sha256"]) == 64
  for path in ("config.json", "metrics.jsonl", "summary.json", "losses.png", "checkpoints/2",
               "samples/step_000002.png"):
    assert os.path.exists(workdir / path), path
  record = json.loads(open(workdir / "metrics.jsonl").readline())
  loss_keys = ("loss",) if name == "vae" else ("d_loss", "g_loss")
  assert all(k in record and record[k] == record[k] for k in loss_keys), record
