"""Stacked MNIST (``config.dataset = "stacked:SOURCE"``): fresh digit triples, judged by their modes."""

import json

import jax
import numpy as np
import pytest

from conftest import brightness_of, read_brightness
from gan_jax import data, features, train
from gan_jax.errors import UserError


def _digits_npz(path, per_class=3):
  """Digit images whose mean brightness codes their label (as ``read_brightness`` reads it)."""
  labels = np.repeat(np.arange(10), per_class)
  images = np.repeat(brightness_of(labels)[:, None, None], 28, axis=1)
  np.savez(path, x_train=np.repeat(images, 28, axis=2), y_train=labels)
  return f"npz:{path}"


@pytest.fixture
def brightness_classifier(monkeypatch):
  """'classifier' replaced, for one test, by one that reads a digit off a channel's brightness."""
  reg = features._REGISTRY  # pylint: disable=protected-access
  monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # pylint: disable=protected-access
  features.register("classifier", lambda config, dataset: features.FeatureExtractor(
      "classifier", "brightness", read_brightness, 10, {"test_accuracy": 1.0}), overwrite=True)


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
])
def test_bad_names_are_one_line_errors(name, message):
  with pytest.raises(UserError) as e:
    data.check_name(name)
  assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def _load_error(name, size=0, channels=0):
  with pytest.raises(UserError) as e:
    data.load(name, size, channels)
  assert "\n" not in str(e.value), str(e.value)
  return str(e.value)


def test_unusable_digits_are_one_line_errors(tmp_path):
  assert "stacks single-channel digit images; 'mixture:grid' holds" in _load_error(
      "stacked:mixture:grid")
  np.savez(tmp_path / "u.npz", x_train=np.zeros((4, 28, 28), np.uint8))
  assert "labelled with the digits 0-9, each present in training; it has no labels" in (
      _load_error(f"stacked:npz:{tmp_path / 'u.npz'}"))
  labels = np.arange(10)
  np.savez(tmp_path / "t.npz", x_train=np.zeros((10, 28, 28), np.uint8), y_train=labels,
           x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([3, 12]))
  assert "it has labels [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12]" in _load_error(
      f"stacked:npz:{tmp_path / 't.npz'}")
  assert "config.image_channels=1 does not apply" in _load_error(
      "stacked:" + _digits_npz(tmp_path / "d.npz"), channels=1)


def test_image_size_pads_the_digits(tmp_path, tiny_config):
  from gan_jax import config as config_lib
  tiny_config.update(dict(dataset="stacked:" + _digits_npz(tmp_path / "d.npz"), image_size=32,
                          image_channels=3))
  config_lib.validate(tiny_config)
  source = data.for_config(tiny_config)
  assert source.image_shape == (32, 32, 3) and source.digits.image_shape == (32, 32, 1)
  assert np.all(source.digits.images[:, :2] == 0)  # The zero border of the padding.


class _KnownStacks:
  """Stands in for a generator: sample i is the stack of ``triples[i]`` (brightness-coded)."""

  def __init__(self, triples):
    self.triples = np.asarray(triples)

  def __call__(self, variables, z):
    del variables
    idx = np.asarray(z[:, 0]).astype(int)  # The latents below are 0, 1, 2, ...
    codes = brightness_of(self.triples[idx]) / 127.5 - 1.0
    return np.broadcast_to(codes[:, None, None, :], (len(idx), 28, 28, 3))


def test_the_evaluator_counts_the_triples_it_is_shown(tmp_path, tiny_config, monkeypatch,
                                                     brightness_classifier):
  del brightness_classifier
  from gan_jax import stacked_mnist
  triples = [(1, 2, 3), (1, 2, 3), (4, 5, 6), (0, 0, 9), (9, 9, 9), (4, 5, 6)]
  source = data.load("stacked:" + _digits_npz(tmp_path / "d.npz"))
  evaluator = stacked_mnist.StackedEvaluator(
      tiny_config, generator=None, discriminator=None, dataset=source,
      key=jax.random.PRNGKey(0), num_samples=len(triples))
  monkeypatch.setattr(evaluator, "_sample", _KnownStacks(triples))
  monkeypatch.setattr(evaluator, "_z", np.arange(len(triples))[:, None] * np.ones((1, 4)))
  values = evaluator(view=type("View", (), {"generator": None})())
  counts = np.array([2, 2, 1, 1]) / 6
  assert values["modes"] == 4
  assert values["reverse_kl"] == pytest.approx(float(np.sum(counts * np.log(counts * 1000))))


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
