"""A small CNN classifier trained by the project: the feature extractor for MNIST-like data.

FID and friends need a fixed network whose features separate the data's
classes. InceptionV3 (``gan_jax.features.inception``) is the standard for
natural images, but it sees 28x28 digits through a 10x upsampling and needs
weights that cannot be downloaded at run time. For MNIST-like data sets a
classifier trained on the data set itself is the usual substitute (as the
pretrained MNIST classifiers that count Stacked MNIST modes in Metz et al.
2017 and Srivastava et al. 2017).

The classifier is trained once per data set, deterministically from a fixed
key, on the training split, and cached on disk under
``<cache_dir>/<data set>-<hash>/`` where the hash covers the training
``Recipe``, this module's ``VERSION`` and the bytes of the data. Its test
accuracy (on the data set's eval split, or on a held-out part of the training
split when there is none) is stored in ``metadata.json`` beside the weights.

The recipe is deliberately not a run setting: FID values are only comparable
when computed with the same network, so every run on a data set shares one
classifier; change ``DEFAULT_RECIPE`` (or ``VERSION``) and the hash changes.

Outputs: the penultimate (``feature_dim``-wide, post-ReLU) layer is the feature
vector for FID, KID and precision/recall; the softmax is the class
distribution for the Inception-Score-style classifier score and the class
histogram.

References:
  Heusel et al. 2017 (FID); Salimans et al. 2016 (Inception Score);
  Metz et al. 2017, "Unrolled Generative Adversarial Networks", and
  Srivastava et al. 2017, "VEEGAN" (MNIST classifiers as mode detectors).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from typing import Any, Callable, Optional, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from gan_jax.data import Dataset, to_float
from gan_jax.features.common import batched_apply

# Bump when the architecture or the training procedure changes what a recipe
# produces, so stale cache entries are not reused.
VERSION = 1
# The image sides the classifier takes: 28x28, or 28x28 padded up to 32x32.
MIN_SIDE, MAX_SIDE = 28, 32
# Images per forward pass when extracting features.
EMBED_BATCH = 500


@dataclasses.dataclass(frozen=True)
class Recipe:
  """How the classifier is built and trained; every field is part of its hash.

  Attributes:
    widths: channels of the 3x3, stride-2 convolutions (28 -> 14 -> 7).
    feature_dim: width of the penultimate dense layer (the FID features).
    epochs: passes over the training split.
    batch_size: images per Adam step.
    learning_rate: Adam's step size.
    holdout_fraction: share of the training split held out to measure the
      test accuracy when the data set has no labelled eval split.
    seed: the one key all randomness (init, shuffling, hold-out) derives from.
  """

  widths: tuple[int, ...] = (32, 64)
  feature_dim: int = 128
  epochs: int = 3
  batch_size: int = 128
  learning_rate: float = 1e-3
  holdout_fraction: float = 0.1
  seed: int = 0


# Measured: 0.899 test accuracy on Fashion-MNIST (60,000 training images,
# 37-60 s on two shared CPU cores) and 0.959 on ../shared/data/mnist10k.npz
# (8,004 training images); see README.md, "Evaluation".
DEFAULT_RECIPE = Recipe()


class SmallCNN(nn.Module):
  """Images [N, H, W, 1] in [-1, 1] -> (logits [N, num_classes], features [N, feature_dim])."""

  num_classes: int
  widths: Sequence[int]
  feature_dim: int

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    for width in self.widths:
      x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2))(x))
    x = x.reshape((x.shape[0], -1))
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    return nn.Dense(self.num_classes)(features), features


def unsupported_reason(dataset: Dataset) -> Optional[str]:
  """Why the classifier cannot serve ``dataset``, or None if it can."""
  height, width, channels = dataset.image_shape
  if dataset.labels is None:
    return f"dataset {dataset.name!r} has no labels to train a classifier on"
  if len(np.unique(dataset.labels)) < 2:
    return f"dataset {dataset.name!r} has fewer than 2 distinct labels to train a classifier on"
  if channels != 1 or not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
    return (f"the classifier takes grayscale images of {MIN_SIDE}x{MIN_SIDE} to "
            f"{MAX_SIDE}x{MAX_SIDE}; dataset {dataset.name!r} has {height}x{width}x{channels} "
            "images")
  return None


def _sha256_arrays(*arrays: Optional[np.ndarray]) -> str:
  digest = hashlib.sha256()
  for a in arrays:
    if a is None:
      digest.update(b"none;")
      continue
    a = np.ascontiguousarray(a)
    digest.update(f"{a.dtype.str}{a.shape};".encode())
    digest.update(a.tobytes())
  return digest.hexdigest()


def data_sha256(dataset: Dataset) -> str:
  """A hash of the images and labels the classifier trains and is tested on."""
  return _sha256_arrays(dataset.images, dataset.labels, dataset.eval_images, dataset.eval_labels)


def classifier_hash(recipe: Recipe, data_hash: str) -> str:
  """The cache key: a hash of the recipe, ``VERSION`` and the data's hash."""
  spec = {"version": VERSION, "recipe": dataclasses.asdict(recipe), "data_sha256": data_hash}
  return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def params_sha256(params: Any) -> str:
  """A hash of every parameter's path, dtype, shape and bytes."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(params)):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}{leaf.dtype.str}{leaf.shape};".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def _splits(dataset: Dataset, recipe: Recipe):
  """(train images, train labels, test images, test labels, test split name)."""
  if dataset.eval_images is not None and dataset.eval_labels is not None:
    return dataset.images, dataset.labels, dataset.eval_images, dataset.eval_labels, "eval"
  n = len(dataset.images)
  num_test = max(1, int(round(n * recipe.holdout_fraction))) if n > 1 else 0
  key = jax.random.fold_in(jax.random.PRNGKey(recipe.seed), 2)
  order = np.asarray(jax.random.permutation(key, n))
  test, train = np.sort(order[:num_test]), np.sort(order[num_test:])
  return (dataset.images[train], dataset.labels[train], dataset.images[test],
          dataset.labels[test], "holdout")


def num_classes(dataset: Dataset) -> int:
  """Classes of a labelled data set: one more than the largest label of either split."""
  largest = int(dataset.labels.max())
  if dataset.eval_labels is not None and len(dataset.eval_labels):
    largest = max(largest, int(dataset.eval_labels.max()))
  return largest + 1


@functools.lru_cache(maxsize=8)
def _model(recipe: Recipe, num_classes: int) -> SmallCNN:
  return SmallCNN(num_classes=num_classes, widths=tuple(recipe.widths),
                  feature_dim=recipe.feature_dim)


@functools.lru_cache(maxsize=8)
def _jitted_init(model: SmallCNN):
  # Jitted: un-jitted init runs (and compiles) every layer's ops one by one.
  return jax.jit(model.init)


def _init_params(model: SmallCNN, image_shape: tuple[int, ...], seed: int) -> Any:
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 0)
  return _jitted_init(model)(key, jnp.zeros((1,) + tuple(image_shape), jnp.float32))


@functools.lru_cache(maxsize=8)
def _jitted_forward(model: SmallCNN):
  """``(params, uint8 images) -> (features, class probabilities)``, compiled once per model."""

  def forward(params, images):
    logits, features = model.apply(params, to_float(images))
    return features, jax.nn.softmax(logits, axis=-1)

  return jax.jit(forward)


@functools.lru_cache(maxsize=8)
def _train_step(recipe: Recipe, num_classes: int):
  """The jitted Adam step on a batch of indices (cached: one compilation per recipe)."""
  model, tx = _model(recipe, num_classes), optax.adam(recipe.learning_rate)

  @jax.jit
  def step(params, opt_state, images, labels, idx):
    def loss_fn(p):
      logits, _ = model.apply(p, to_float(images[idx]))
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return tx, step


# About this many progress lines per training (one every total // PROGRESS_LINES steps).
PROGRESS_LINES = 10


def progress_line(done: int, total: int, loss: float, elapsed_s: float) -> str:
  """'evaluation classifier: step 35/351 (10%), loss 0.412, 9 s, ETA 81 s'."""
  eta = elapsed_s / done * (total - done)
  return (f"evaluation classifier: step {done}/{total} ({100 * done // total}%), "
          f"loss {loss:.3f}, {elapsed_s:.0f} s, ETA {eta:.0f} s")


def _print_flushed(line: str) -> None:
  print(line, flush=True)


def train(dataset: Dataset, recipe: Recipe = DEFAULT_RECIPE,
          report: Optional[Callable[[str], None]] = _print_flushed) -> tuple[Any, dict]:
  """Trains the classifier on ``dataset``'s training split, deterministically.

  Args:
    dataset: labelled images (see ``unsupported_reason``).
    recipe: the architecture and training settings.
    report: called with a progress line about PROGRESS_LINES times (None:
      silent); by default printed to stdout.

  Returns:
    ``(params, metadata)``: the Flax params and a JSON-able dict with the
    test accuracy, split sizes, the recipe and hashes.
  """
  start = time.time()
  train_x, train_y, test_x, test_y, test_split = _splits(dataset, recipe)
  model = _model(recipe, num_classes(dataset))
  params = _init_params(model, dataset.image_shape, recipe.seed)
  tx, step = _train_step(recipe, model.num_classes)
  opt_state = tx.init(params)

  # A Python loop over jitted steps: XLA:CPU runs convolutions inside lax.scan
  # many times slower than at top level.
  images, labels = jax.device_put(train_x), jax.device_put(train_y.astype(np.int32))
  n = len(train_x)
  batch = min(recipe.batch_size, n)
  shuffle_key = jax.random.fold_in(jax.random.PRNGKey(recipe.seed), 1)
  loss = jnp.zeros(())
  steps_per_epoch = n // batch
  total = recipe.epochs * steps_per_epoch
  every = max(1, total // PROGRESS_LINES)
  for epoch in range(recipe.epochs):
    order = np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n))
    for i in range(steps_per_epoch):
      params, opt_state, loss = step(params, opt_state, images, labels,
                                     order[i * batch:(i + 1) * batch])
      done = epoch * steps_per_epoch + i + 1
      if report is not None and (done % every == 0 or done == total):
        report(progress_line(done, total, float(loss), time.time() - start))
  params = jax.device_get(params)
  accuracy = float("nan")
  if len(test_x):
    forward = _jitted_forward(model)
    _, probs = batched_apply(lambda x: forward(params, x), test_x, EMBED_BATCH)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == test_y))
  metadata = {
      "recipe": dataclasses.asdict(recipe),
      "version": VERSION,
      "num_classes": model.num_classes,
      "image_shape": list(dataset.image_shape),
      "num_train": int(n),
      "num_test": int(len(test_x)),
      "test_split": test_split,
      "test_accuracy": accuracy,
      "final_train_loss": float(loss),
      "params_sha256": params_sha256(params),
      "train_seconds": time.time() - start,
  }
  return params, metadata


@dataclasses.dataclass(frozen=True)
class TrainedClassifier:
  """A trained classifier and what identifies it.

  Attributes:
    params: the Flax params of ``model``.
    model: the ``SmallCNN``.
    hash: ``classifier_hash`` of its recipe and data (the cache key).
    metadata: the JSON-able training record (test accuracy, recipe, ...).
    path: the cache directory it was loaded from or saved to, or None.
  """

  params: Any
  model: SmallCNN
  hash: str
  metadata: dict
  path: Optional[str] = None

  @property
  def num_classes(self) -> int:
    return self.model.num_classes

  def embed(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, H, W, 1] -> (features [N, feature_dim], class probabilities [N, C])."""
    forward = _jitted_forward(self.model)
    return tuple(batched_apply(lambda x: forward(self.params, x), images, EMBED_BATCH))


def _slug(name: str) -> str:
  """A file-name-safe short name of a data set: 'npz:a/b/fashion.npz' -> 'fashion'."""
  base = os.path.splitext(os.path.basename(name.split(":", 1)[-1]))[0] or name
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", base)[:40] or "data"


def cache_path(cache_dir: str, dataset: Dataset, digest: str) -> str:
  """Where the classifier with hash ``digest`` for ``dataset`` lives."""
  return os.path.join(os.path.expanduser(cache_dir), f"{_slug(dataset.name)}-{digest[:16]}")


def _read_cached(path: str, digest: str, model: SmallCNN,
                 image_shape: tuple[int, ...]) -> Optional[TrainedClassifier]:
  """The cached classifier at ``path``, or None if absent or unreadable."""
  meta_path, params_path = os.path.join(path, "metadata.json"), os.path.join(path, "params.msgpack")
  if not os.path.isfile(meta_path):
    return None
  try:
    with open(meta_path) as f:
      metadata = json.load(f)
    if metadata.get("hash") != digest:
      raise ValueError(f"hash {metadata.get('hash')!r} differs from {digest!r}")
    template = _init_params(model, image_shape, 0)
    with open(params_path, "rb") as f:
      params = flax.serialization.from_bytes(template, f.read())
    if params_sha256(params) != metadata["params_sha256"]:
      raise ValueError("params do not match their recorded sha256")
  except (OSError, ValueError, KeyError, TypeError) as e:
    logging.warning("ignoring the unreadable cached classifier %s (%s); retraining", path, e)
    return None
  return TrainedClassifier(params, model, digest, metadata, path)


def _write_cache(path: str, params: Any, metadata: dict) -> None:
  """Writes the entry into a temporary directory, then renames it into place."""
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
  os.chmod(tmp, 0o755)  # mkdtemp makes it private; the entry is an ordinary cache directory.
  try:
    with open(os.path.join(tmp, "params.msgpack"), "wb") as f:
      f.write(flax.serialization.to_bytes(params))
    with open(os.path.join(tmp, "metadata.json"), "w") as f:
      json.dump(metadata, f, indent=2, sort_keys=True)
    if os.path.isdir(path):  # An unreadable entry being replaced.
      shutil.rmtree(path, ignore_errors=True)
    try:
      os.rename(tmp, path)
    except OSError:  # Another process wrote the same entry first: keep theirs.
      pass
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)


def load_or_train(dataset: Dataset, cache_dir: str,
                  recipe: Recipe = DEFAULT_RECIPE) -> TrainedClassifier:
  """The classifier for ``dataset``: from the cache, or trained now and cached.

  Args:
    dataset: labelled grayscale images (see ``unsupported_reason``).
    cache_dir: directory of cached classifiers (``~`` is expanded).
    recipe: the training settings; part of the cache key.

  Returns:
    The ``TrainedClassifier``; ``metadata["cache"]`` says whether it was a
    cache ``"hit"`` or trained now (``"miss"``).

  Raises:
    ValueError: if the classifier cannot serve ``dataset``.
  """
  reason = unsupported_reason(dataset)
  if reason:
    raise ValueError(reason)
  data_hash = data_sha256(dataset)
  digest = classifier_hash(recipe, data_hash)
  path = cache_path(cache_dir, dataset, digest)
  model = _model(recipe, num_classes(dataset))
  cached = _read_cached(path, digest, model, dataset.image_shape)
  if cached is not None:
    return dataclasses.replace(cached, metadata={**cached.metadata, "cache": "hit"})
  logging.warning("training the evaluation classifier of %s (once; cached in %s)",
                  dataset.name, path)
  params, metadata = train(dataset, recipe)
  metadata = {"hash": digest, "data_sha256": data_hash, "dataset": dataset.name, **metadata}
  _write_cache(path, params, metadata)
  return TrainedClassifier(params, model, digest, {**metadata, "cache": "miss"}, path)
