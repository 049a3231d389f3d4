"""Stacked MNIST (``config.dataset = "stacked:SOURCE"``): fresh digit triples, judged by their modes."""

import json

import jax
import numpy as np
import pytest

from gan_jax import data, features, train
from gan_jax.errors import UserError


def _digits_npz(path, per_class=3):
  """Digit images whose mean brightness codes their label (as ``_brightness_classifier`` reads)."""
  labels = np.repeat(np.arange(10), per_class)
  images = np.repeat((labels * 25.6 + 5).astype(np.uint8)[:, None, None], 28, axis=1)
  np.savez(path, x_train=np.repeat(images, 28, axis=2), y_train=labels)
  return f"npz:{path}"


@pytest.fixture
def brightness_classifier(monkeypatch):
  """'classifier' replaced, for one test, by one that reads a digit off a channel's brightness."""
  reg = features._REGISTRY  # pylint: disable=protected-access
  monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # pylint: disable=protected-access

  def embed(images):
    digits = (images.reshape(len(images), -1).mean(axis=1) // 25.6).astype(int).clip(0, 9)
    return np.zeros((len(images), 1)), np.eye(10)[digits]

  features.register("classifier", lambda config, dataset: features.FeatureExtractor(
      "classifier", "brightness", embed, 10, {"test_accuracy": 1.0}), overwrite=True)


def test_batches_stack_three_independent_digits(tmp_path):
  source = data.load("stacked:" + _digits_npz(tmp_path / "d.npz"))
  assert source.image_shape == (28, 28, 3) and "1000 modes" in source.describe()
  arrays = source.device_arrays(with_labels=False)
  batch = jax.jit(source.draw_batch, static_argnums=(2, 3, 5))(
      arrays, jax.random.PRNGKey(0), 2, 400, 0, 400)["image"]
  assert batch.shape == (2, 400, 28, 28, 3)
  # Each channel is one whole digit image (constant here), and the channels differ.
  images = np.asarray(data.to_uint8(batch)).reshape(800, 28 * 28, 3)
  assert np.all(images == images[:, :1])
  triples = images[:, 0] // 25.6
  assert len({tuple(t) for t in triples}) > 400  # Of 1,000 triples, in 800 draws.
  assert all(len(np.unique(triples[:, c])) == 10 for c in range(3))


def test_the_sliced_draw_is_the_global_draw_s_slice(tmp_path):
  source = data.load("stacked:" + _digits_npz(tmp_path / "d.npz"))
  arrays, key = source.device_arrays(False), jax.random.PRNGKey(3)
  whole = source.draw_batch(arrays, key, 1, 8, 0, 8)["image"]
  part = source.draw_batch(arrays, key, 1, 8, 4, 4)["image"]
  np.testing.assert_array_equal(whole[:, 4:], part)


@pytest.mark.parametrize("name,message", [
    ("stacked:", "needs the digits to stack: stacked:SOURCE"),
    ("stacked:nope", "dataset 'stacked:nope': unknown dataset 'nope'"),
    ("stacked:mixture:grid", "stacks single-channel digit images; 'mixture:grid' holds"),
])
def test_unusable_sources_are_one_line_errors(name, message):
  with pytest.raises(UserError, match=message):
    data.check_name(name)
    data.load(name)


def test_unlabelled_digits_are_refused(tmp_path):
  np.savez(tmp_path / "u.npz", x_train=np.zeros((4, 28, 28), np.uint8))
  with pytest.raises(UserError, match="labelled with the digits 0-9, each present; it has no"):
    data.load(f"stacked:npz:{tmp_path / 'u.npz'}")


def test_a_run_reports_modes_and_keeps_the_best_by_them(tmp_path, tiny_config,
                                                       brightness_classifier):
  del brightness_classifier
  tiny_config.update(dict(dataset="stacked:" + _digits_npz(tmp_path / "d.npz"), num_steps=20,
                          eval_every=10, num_eval_samples=300, best_metric="modes",
                          best_mode="max"))
  workdir = tmp_path / "run"
  summary = train.train_and_evaluate(tiny_config, str(workdir))
  assert 1 <= summary["modes"] <= 300 and np.isfinite(summary["reverse_kl"])
  assert summary["eval_info"]["features"] == "stacked digits classifier"
  assert summary["best"]["metric"] == "modes"
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  assert [r["eval/modes"] for r in records if "eval/modes" in r][-1] == summary["modes"]
