"""The project's evaluation classifier: deterministic training, the cache, outputs, fallbacks."""

import dataclasses
import json
import os
import shutil

import ml_collections
import numpy as np
import pytest

from gan_jax import features
from gan_jax.data import Dataset
from gan_jax.features import classifier

TINY = classifier.Recipe(widths=(4, 8), feature_dim=16, epochs=3, batch_size=16)


def synthetic_digits(seed: int, n: int, num_classes: int = 3):
  """Noise images with a bright bar whose height gives the class."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, n).astype(np.int32)
  images = rng.integers(0, 40, (n, 28, 28, 1)).astype(np.uint8)
  for i, y in enumerate(labels):
    images[i, 3 + 8 * y:9 + 8 * y, 4:24] = 220
  return images, labels


def make_dataset(name="npz:synthetic.npz", with_eval=True, n=96):
  images, labels = synthetic_digits(0, n)
  if not with_eval:
    return Dataset(name, images, labels)
  eval_images, eval_labels = synthetic_digits(1, 30)
  return Dataset(name, images, labels, eval_images, eval_labels)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
  cache = str(tmp_path_factory.mktemp("classifiers"))
  first = classifier.load_or_train(make_dataset(), cache, TINY)
  return cache, first


def test_same_key_same_params(cached):
  _, first = cached
  params, meta = classifier.train(make_dataset(), TINY)
  assert meta["params_sha256"] == first.metadata["params_sha256"]
  assert classifier.params_sha256(params) == first.metadata["params_sha256"]


def test_learns_the_synthetic_classes_and_records_its_accuracy(cached):
  cache, first = cached
  assert first.metadata["cache"] == "miss"
  assert first.metadata["test_split"] == "eval" and first.metadata["num_test"] == 30
  assert first.metadata["test_accuracy"] >= 0.9
  with open(os.path.join(first.path, "metadata.json")) as f:
    on_disk = json.load(f)
  assert on_disk["test_accuracy"] == first.metadata["test_accuracy"]
  assert on_disk["hash"] == first.hash
  assert os.path.basename(first.path) == f"synthetic-{first.hash[:16]}"
  assert os.path.dirname(first.path) == cache


def test_second_call_is_a_cache_hit(cached):
  cache, first = cached
  second = classifier.load_or_train(make_dataset(), cache, TINY)
  assert second.metadata["cache"] == "hit"
  assert second.hash == first.hash
  assert classifier.params_sha256(second.params) == first.metadata["params_sha256"]
  assert sorted(os.listdir(cache)) == [os.path.basename(first.path)]


def test_hash_changes_with_recipe_and_data():
  data = classifier.data_sha256(make_dataset())
  base = classifier.classifier_hash(TINY, data)
  assert classifier.classifier_hash(TINY, data) == base
  assert classifier.classifier_hash(dataclasses.replace(TINY, epochs=4), data) != base
  assert classifier.classifier_hash(dataclasses.replace(TINY, learning_rate=2e-3), data) != base
  changed = make_dataset()
  changed.images[0, 0, 0, 0] ^= 1
  assert classifier.data_sha256(changed) != data
  assert classifier.classifier_hash(TINY, classifier.data_sha256(changed)) != base


def test_embed_shapes_and_probabilities(cached):
  _, first = cached
  images, _ = synthetic_digits(2, 7)
  feats, probs = first.embed(images)
  assert feats.shape == (7, 16) and probs.shape == (7, 3)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
  again, _ = first.embed(images[:3])  # Another batch size: padded, same numbers.
  np.testing.assert_allclose(again, feats[:3], rtol=1e-5, atol=1e-6)


def test_corrupt_cache_entry_is_retrained(cached, tmp_path):
  _, first = cached
  entry = tmp_path / os.path.basename(first.path)
  shutil.copytree(first.path, entry)
  (entry / "params.msgpack").write_bytes(b"garbage")
  again = classifier.load_or_train(make_dataset(), str(tmp_path), TINY)
  assert again.metadata["cache"] == "miss"
  assert again.metadata["params_sha256"] == first.metadata["params_sha256"]
  assert classifier.load_or_train(make_dataset(), str(tmp_path), TINY).metadata["cache"] == "hit"


def test_holdout_split_without_eval_split():
  dataset = make_dataset(with_eval=False, n=60)
  _, meta = classifier.train(dataset, dataclasses.replace(TINY, epochs=1))
  assert meta["test_split"] == "holdout"
  assert (meta["num_train"], meta["num_test"]) == (54, 6)


@pytest.mark.parametrize("change,reason", [
    (dict(labels=None), "has no labels"),
    (dict(labels=np.zeros(96, np.int32)), "fewer than 2 distinct labels"),
    (dict(images=np.zeros((96, 28, 28, 3), np.uint8)), "grayscale images of 28x28 to 32x32"),
    (dict(images=np.zeros((96, 64, 64, 1), np.uint8)), "grayscale images of 28x28 to 32x32"),
    (dict(images=np.zeros((96, 12, 12, 1), np.uint8)), "grayscale images of 28x28 to 32x32"),
])
def test_unsupported_data_fall_back_to_pixels(change, reason):
  dataset = dataclasses.replace(make_dataset(with_eval=False), **change)
  assert reason in classifier.unsupported_reason(dataset)
  config = ml_collections.ConfigDict({"eval_classifier_cache_dir": "/nonexistent"})
  extractor = features.build("classifier", config, dataset)
  assert extractor.name == "pixels" and extractor.num_classes == 0
  assert reason in extractor.info["note"] and extractor.info["requested"] == "classifier"
  feats, probs = extractor.embed(dataset.images[:2])
  assert feats.shape == (2, int(np.prod(dataset.image_shape))) and probs is None


def test_registry():
  assert features.names() == ["classifier", "inception", "pixels"]
  with pytest.raises(ValueError, match="unknown feature extractor 'nope'"):
    features.get("nope")
