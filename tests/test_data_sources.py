"""A data source registered by a user brings its own evaluation and pictures to the engine."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from experiments.configs import mog_ring
from gan_jax import config as config_lib, data, mixtures, train
from gan_jax.errors import UserError
from gan_jax.train_step import generate, latents


class RadiusEvaluator:
  """Scores a generator by its samples' mean distance from the origin."""

  headline = ("mean_radius",)

  def __init__(self, config, *, generator, discriminator, dataset, key, num_samples):
    del discriminator, dataset
    self._generator = generator
    self._z = latents(key, num_samples, config.latent_dim)
    self.info = {"features": "radius", "num_fake": num_samples}

  def metric_names(self):
    return self.headline

  def __call__(self, view):
    points = np.asarray(generate(self._generator, view.generator, self._z))
    return {"mean_radius": float(np.mean(np.linalg.norm(points, axis=1)))}

  def describe(self, values):
    return {k: {"value": v} for k, v in values.items()}


def _step_picture(config, *, generator, discriminator, dataset, key):
  del config, generator, discriminator, dataset, key
  return lambda view, step: np.full((6, 10, 3), step, np.uint8)


@pytest.fixture
def circle_source(monkeypatch):
  """'circle': the ring's batches with its own evaluator and picture, registered for one test."""
  # pylint: disable=protected-access
  shipped = data._sources()
  monkeypatch.setattr(shipped, "_entries", dict(shipped._entries))  # Undone after the test.
  data.register_source("circle", data.Source(
      load=lambda name, size, channels: mixtures.MixtureData(name, mixtures.get("ring")),
      usage="circle", metrics=RadiusEvaluator.headline, make_evaluator=RadiusEvaluator,
      make_sample_writer=_step_picture))


def _config(**overrides):
  config = mog_ring.get_config("adam")
  config.update(dict(dataset="circle", num_steps=20, steps_per_call=10, log_every=10,
                     eval_every=10, sample_every=10, checkpoint_every=10, hidden_dims=(8,),
                     batch_size=16, num_eval_samples=100, progress_bar=False))
  config.update(overrides)
  return config


def test_a_registered_source_is_evaluated_and_drawn_by_its_own_hooks(circle_source, tmp_path):
  del circle_source
  workdir = tmp_path / "run"
  summary = train.train_and_evaluate(_config(best_metric="mean_radius", best_mode="max"),
                                     str(workdir))
  assert summary["mean_radius"] == summary["eval/mean_radius"] > 0
  assert summary["eval_info"]["features"] == "radius"
  assert summary["best"]["metric"] == "mean_radius"
  assert "fid" not in summary and "eval/modes" not in summary
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert [r["eval/mean_radius"] for r in records] == [records[0]["eval/mean_radius"],
                                                      summary["mean_radius"]]
  picture = np.asarray(Image.open(workdir / "samples" / "step_000020.png"))
  assert picture.shape[:2] == (6, 10) and np.all(picture[..., :3] == 20)
  assert os.path.isdir(workdir / "checkpoints" / "best")


def test_a_source_metric_is_a_best_metric_only_while_registered(circle_source, monkeypatch):
  del circle_source
  config_lib.validate(_config(best_metric="mean_radius"))
  monkeypatch.undo()  # The registry as the library ships it.
  with pytest.raises(UserError, match="config.best_metric='mean_radius' is not allowed"):
    config_lib.validate(_config(dataset="mixture:ring", best_metric="mean_radius"))


def test_a_metric_the_evaluator_lacks_is_refused_before_anything_is_written(tmp_path):
  workdir = tmp_path / "run"
  config = _config(dataset="mixture:ring", best_metric="fid")  # The mixture has no FID.
  with pytest.raises(UserError, match="config.best_metric='fid' is not computed by this run's "
                                      "evaluations .* one of modes, high_quality, reverse_kl"):
    train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists() or not any(workdir.iterdir())
