"""Feature extractors for evaluation, selected by ``config.eval_features``.

One registry maps a name to a factory ``(config, dataset) -> FeatureExtractor``:

- ``classifier``: a small CNN the project trains on the data set's labelled
  training split and caches (``gan_jax.features.classifier``); features are
  its penultimate layer, probabilities its softmax. For grayscale images of
  28x28 to 32x32 with labels (MNIST, Fashion-MNIST).
- ``inception``: the FID InceptionV3 (``gan_jax.features.inception``), pool3
  features and the 1008-way softmax, with weights from
  ``config.eval_inception_weights``.
- ``pixels``: the flattened pixels in [-1, 1]; no class probabilities. Used
  when the configured extractor cannot serve a data set (see ``build``).

An extractor maps uint8 images [N, H, W, C] to ``(features [N, D], probs
[N, K] or None)``; its ``hash`` identifies the exact network (weights and
preprocessing), so two FIDs are comparable only when their hashes agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Optional

import ml_collections
import numpy as np
from absl import logging

from gan_jax.data import Dataset, to_float
from gan_jax.features import classifier as classifier_lib
from gan_jax.features import inception as inception_lib
from gan_jax.registry import Registry

Embedding = tuple[np.ndarray, Optional[np.ndarray]]


class Unavailable(Exception):
  """An extractor cannot serve a data set (e.g. no labels to train a classifier on)."""


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
  """A fixed network from images to features (and class probabilities).

  Attributes:
    name: its registry name.
    hash: identifies the weights and preprocessing (hex string).
    embed: uint8 images [N, H, W, C] -> (features [N, D] float, probabilities
      [N, num_classes] or None).
    num_classes: width of the probabilities; 0 when there are none.
    info: JSON-able facts for reports (e.g. the classifier's test accuracy).
  """

  name: str
  hash: str
  embed: Callable[[np.ndarray], Embedding]
  num_classes: int = 0
  info: dict = dataclasses.field(default_factory=dict)


Factory = Callable[[ml_collections.ConfigDict, Dataset], FeatureExtractor]

_REGISTRY: Registry[Factory] = Registry("feature extractor")


def register(name: str, factory: Optional[Factory] = None, *, overwrite: bool = False):
  """Adds ``factory(config, dataset) -> FeatureExtractor`` under ``name``; without it, a decorator.

  The factory raises ``Unavailable`` when it cannot serve a data set (then
  ``build`` falls back to pixels).
  """
  return _REGISTRY.register(name, factory, overwrite=overwrite)


def names() -> list[str]:
  """The registered extractor names, sorted."""
  return _REGISTRY.names()


def get(name: str) -> Factory:
  """The factory ``name``; ValueError listing the known extractors otherwise."""
  return _REGISTRY.get(name)


FALLBACK = "pixels"


def build(name: str, config: ml_collections.ConfigDict, dataset: Dataset) -> FeatureExtractor:
  """The extractor ``name`` for ``dataset``, or the pixel one if it cannot serve it.

  A fallback is logged and recorded in ``info["note"]``.

  Raises:
    UserError: bad settings for the extractor (e.g. a missing weights file).
  """
  try:
    return get(name)(config, dataset)
  except Unavailable as e:
    note = f"{name} features unavailable ({e}); using {FALLBACK} features, no class metrics"
    logging.warning("%s", note)
    extractor = get(FALLBACK)(config, dataset)
    return dataclasses.replace(extractor, info={**extractor.info, "note": note,
                                                "requested": name})


def _pixels(config: ml_collections.ConfigDict, dataset: Dataset) -> FeatureExtractor:
  del config
  shape = dataset.image_shape
  digest = hashlib.sha256(f"pixels-v1{tuple(shape)}".encode()).hexdigest()
  embed = lambda images: (to_float(np.asarray(images)).reshape(len(images), -1), None)
  return FeatureExtractor("pixels", digest, embed, 0, {"dim": int(np.prod(shape))})


def _classifier(config: ml_collections.ConfigDict, dataset: Dataset) -> FeatureExtractor:
  reason = classifier_lib.unsupported_reason(dataset)
  if reason:
    raise Unavailable(reason)
  trained = classifier_lib.load_or_train(dataset, config.eval_classifier_cache_dir)
  meta = trained.metadata
  info = {"dim": trained.model.feature_dim, "test_accuracy": meta["test_accuracy"],
          "test_split": meta["test_split"], "num_train": meta["num_train"],
          "num_test": meta["num_test"], "path": trained.path, "cache": meta["cache"],
          "params_sha256": meta["params_sha256"]}
  return FeatureExtractor("classifier", trained.hash, trained.embed, trained.num_classes, info)


def _inception(config: ml_collections.ConfigDict, dataset: Dataset) -> FeatureExtractor:
  try:
    inception_lib.check_images(dataset.image_shape)
  except ValueError as e:
    raise Unavailable(str(e)) from None
  params, digest = inception_lib.load_params(config.eval_inception_weights)
  extractor = inception_lib.InceptionExtractor(params)
  info = {"dim": 2048, "weights": config.eval_inception_weights,
          "resolution": inception_lib.FID_RESOLUTION}
  return FeatureExtractor("inception", digest, extractor.embed, extractor.num_classes, info)


register("classifier", _classifier)
register("inception", _inception)
register("pixels", _pixels)
