"""InceptionV3 as used for FID: 299x299 bilinear resize, 2048-d pool3 features.

This is the network of the reference FID implementations (TensorFlow's
``inception-2015-12-05`` graph used by Heusel et al. 2017, and its PyTorch port
in ``pytorch-fid``), written as a Flax module. It differs from the ImageNet
InceptionV3 of torchvision in the FID port's ways: average pools inside the
Inception blocks exclude padding from their count, the last block uses a max
pool in its pool branch, and the classifier has 1008 outputs.

Weights are never downloaded. Make the weights file once, on a machine with
internet and PyTorch:

1. Download the FID Inception weights of pytorch-fid (MIT licence), the file
   ``pt_inception-2015-12-05-6726825d.pth`` from the ``fid_weights`` release
   of https://github.com/mseitzer/pytorch-fid (they are the TF FID graph's
   weights, converted by that project).
2. Convert them to an .npz of named arrays::

     python -m gan_jax.features.convert_inception pt_inception-2015-12-05-6726825d.pth \
         fid_inception.npz

   (``convert_state_dict`` below; it needs ``torch`` only to unpickle the file).
3. Point ``config.eval_inception_weights`` at ``fid_inception.npz`` and set
   ``config.eval_features = "inception"``.

The .npz holds the PyTorch state-dict names and layouts unchanged (e.g.
``Mixed_5b.branch1x1.conv.weight`` [O, I, kh, kw], ``...bn.running_mean``,
``fc.weight`` [1008, 2048]); ``load_params`` checks every name and shape and
transposes to Flax's layouts.

Preprocessing (``preprocess``): uint8 images -> [-1, 1], grayscale repeated to
3 channels, then a bilinear resize to 299x299 with half-pixel centres and no
antialiasing (PyTorch's ``interpolate(..., align_corners=False)`` as in
pytorch-fid). Values can differ slightly from the TensorFlow graph's resize.

On a CPU the network costs about 6 GFLOPs per image: use it on an accelerator,
or the project's classifier (``gan_jax.features.classifier``) for 28x28 data.

References:
  Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
  Vision" (InceptionV3); Heusel et al. 2017, "GANs Trained by a Two Time-Scale
  Update Rule Converge to a Local Nash Equilibrium" (FID, pool3 features);
  Salimans et al. 2016 (Inception Score, the 1008-way softmax).
"""

from __future__ import annotations

import functools
import hashlib
import os
import zipfile
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import to_float
from gan_jax.errors import UserError
from gan_jax.features.common import batched_apply

# The FID protocol's input resolution and the FID weights' classifier width.
FID_RESOLUTION = 299
FID_NUM_CLASSES = 1008
# The smallest input the stride-2 stem and reductions can take.
MIN_RESOLUTION = 75
# Batch-norm epsilon of the TF graph (and of pytorch-fid's BasicConv2d).
_BN_EPS = 1e-3

Pad = tuple[int, int]


class ConvBN(nn.Module):
  """Convolution without bias, inference-mode batch norm, ReLU (``BasicConv2d``).

  Parameters: ``kernel`` [kh, kw, in, out] and the batch norm's ``scale``,
  ``bias``, ``mean`` and ``var`` [out] (running statistics are parameters:
  this module only ever runs in inference mode).
  """

  features: int
  kernel_size: Pad
  strides: Pad = (1, 1)
  padding: Pad = (0, 0)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    scale = self.param("scale", nn.initializers.ones, (self.features,))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    y = jax.lax.conv_general_dilated(
        x, kernel, window_strides=self.strides,
        padding=[(self.padding[0],) * 2, (self.padding[1],) * 2],
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST)
    y = (y - mean) * (scale * jax.lax.rsqrt(var + _BN_EPS)) + bias
    return nn.relu(y)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  # count_include_pad=False: the FID graph's average pools ignore the padding.
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionA(nn.Module):
  """35x35 block: 1x1, 5x5, double 3x3 and pool branches (``Mixed_5b..5d``)."""

  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = ConvBN(64, (1, 1), name="branch1x1")(x)
    b5 = ConvBN(48, (1, 1), name="branch5x5_1")(x)
    b5 = ConvBN(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = ConvBN(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Grid reduction 35 -> 17 (``Mixed_6a``)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = ConvBN(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = ConvBN(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  """17x17 block with factorised 7x7 convolutions (``Mixed_6b..6e``)."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c7 = self.channels_7x7
    b1 = ConvBN(192, (1, 1), name="branch1x1")(x)
    b7 = ConvBN(c7, (1, 1), name="branch7x7_1")(x)
    b7 = ConvBN(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = ConvBN(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = ConvBN(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = ConvBN(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = ConvBN(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = ConvBN(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = ConvBN(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = ConvBN(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Grid reduction 17 -> 8 (``Mixed_7a``)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = ConvBN(192, (1, 1), name="branch3x3_1")(x)
    b3 = ConvBN(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = ConvBN(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = ConvBN(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = ConvBN(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = ConvBN(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """8x8 block with expanded 3x3 branches (``Mixed_7b``: avg pool, ``Mixed_7c``: max pool)."""

  pool: str = "avg"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = ConvBN(320, (1, 1), name="branch1x1")(x)
    b3 = ConvBN(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([ConvBN(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          ConvBN(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = ConvBN(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = ConvBN(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([ConvBN(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          ConvBN(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)],
                         axis=-1)
    if self.pool == "avg":
      pooled = _avg_pool_3x3(x)
    else:  # The FID graph's last block max-pools here.
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    bp = ConvBN(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """Preprocessed images [N, S, S, 3] in [-1, 1] -> (pool3 [N, 2048], logits [N, num_classes]).

  ``S`` is 299 for FID (``preprocess`` resizes); any S >= 75 runs.
  """

  num_classes: int = FID_NUM_CLASSES

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = ConvBN(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
    x = ConvBN(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = ConvBN(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = ConvBN(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = ConvBN(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name="fc",
                      precision=jax.lax.Precision.HIGHEST)(pool3)
    return pool3, logits


def preprocess(images: jax.Array, resolution: int = FID_RESOLUTION) -> jax.Array:
  """uint8 images [N, H, W, C] (C = 1 or 3) -> float [N, resolution, resolution, 3] in [-1, 1]."""
  x = to_float(images)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  return jax.image.resize(x, (x.shape[0], resolution, resolution, 3), "bilinear",
                          antialias=False)


# --- Weights: PyTorch state-dict names <-> Flax params -----------------------

# ConvBN leaf <- state-dict suffix; the conv kernel is [O, I, kh, kw] there.
_CONV_BN_LEAVES = {"conv.weight": "kernel", "bn.weight": "scale", "bn.bias": "bias",
                   "bn.running_mean": "mean", "bn.running_var": "var"}
_IGNORED_SUFFIX = "num_batches_tracked"  # A PyTorch training counter.


def _to_flax(leaf: str, value: np.ndarray) -> np.ndarray:
  if leaf == "kernel" and value.ndim == 4:  # conv [O, I, kh, kw] -> [kh, kw, I, O]
    return np.transpose(value, (2, 3, 1, 0))
  if leaf == "kernel":  # dense [out, in] -> [in, out]
    return value.T
  return value


def _from_flax(leaf: str, value: np.ndarray) -> np.ndarray:
  if leaf == "kernel" and value.ndim == 4:
    return np.transpose(value, (3, 2, 0, 1))
  if leaf == "kernel":
    return value.T
  return value


def _name_map(params: Any) -> dict[str, tuple[tuple[str, ...], str]]:
  """State-dict name -> (Flax module path, leaf) for every leaf of ``params``."""
  out = {}
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  for path in flat:
    *modules, leaf = path
    if modules == ["fc"]:
      name = "fc." + {"kernel": "weight", "bias": "bias"}[leaf]
    else:
      suffix = {v: k for k, v in _CONV_BN_LEAVES.items()}[leaf]
      name = ".".join(modules) + "." + suffix
    out[name] = (tuple(modules), leaf)
  return out


@functools.lru_cache(maxsize=4)
def _abstract_params(num_classes: int = FID_NUM_CLASSES) -> Any:
  model = FIDInceptionV3(num_classes)
  x = jax.ShapeDtypeStruct((1, MIN_RESOLUTION, MIN_RESOLUTION, 3), jnp.float32)
  return jax.eval_shape(model.init, jax.random.PRNGKey(0), x)["params"]


def state_dict_shapes(num_classes: int = FID_NUM_CLASSES) -> dict[str, tuple[int, ...]]:
  """Every array a weights file must hold: state-dict name -> PyTorch-layout shape."""
  return dict(_state_dict_shapes(num_classes))


@functools.lru_cache(maxsize=4)
def _state_dict_shapes(num_classes: int) -> dict[str, tuple[int, ...]]:
  abstract = flax.traverse_util.flatten_dict(_abstract_params(num_classes))
  shapes = {}
  for name, (modules, leaf) in _name_map(_abstract_params(num_classes)).items():
    shape = abstract[(*modules, leaf)].shape
    shapes[name] = tuple(_from_flax(leaf, np.empty(shape, np.uint8)).shape)
  return shapes


def params_to_state_dict(params: Any) -> dict[str, np.ndarray]:
  """Flax params -> named arrays in the PyTorch layout (``params_from_state_dict`` inverted)."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  return {name: _from_flax(leaf, np.asarray(flat[(*modules, leaf)]))
          for name, (modules, leaf) in _name_map(params).items()}


def params_from_state_dict(arrays: dict[str, np.ndarray], where: str) -> dict:
  """Named PyTorch-layout arrays -> Flax params, checking every name and shape.

  Args:
    arrays: state-dict name -> array (``num_batches_tracked`` entries are ignored).
    where: the file they came from, for error messages.

  Returns:
    The params of ``FIDInceptionV3(num_classes)``, with the number of classes
    read from ``fc.bias``.

  Raises:
    UserError: a missing, unexpected or wrongly shaped array.
  """
  arrays = {k: v for k, v in arrays.items() if not k.endswith(_IGNORED_SUFFIX)}
  if "fc.bias" not in arrays or np.ndim(arrays["fc.bias"]) != 1:
    raise UserError(f"inception weights {where!r} have no 1-D 'fc.bias' array; "
                    f"make the file as gan_jax/features/inception.py describes")
  num_classes = int(np.shape(arrays["fc.bias"])[0])
  expected = state_dict_shapes(num_classes)
  missing = sorted(set(expected) - set(arrays))
  if missing:
    raise UserError(f"inception weights {where!r} lack {len(missing)} of the {len(expected)} "
                    f"arrays, e.g. {missing[0]!r}; make the file as "
                    "gan_jax/features/inception.py describes")
  unexpected = sorted(set(arrays) - set(expected))
  if unexpected:
    raise UserError(f"inception weights {where!r} hold {len(unexpected)} arrays that the FID "
                    f"InceptionV3 does not have, e.g. {unexpected[0]!r}")
  names = _name_map(_abstract_params(num_classes))
  flat = {}
  for name, shape in expected.items():
    value = np.asarray(arrays[name])
    if value.shape != shape:
      raise UserError(f"inception weights {where!r}: array {name!r} has shape {value.shape}, "
                      f"expected {shape}")
    if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
      raise UserError(f"inception weights {where!r}: array {name!r} must hold finite floats")
    modules, leaf = names[name]
    flat[(*modules, leaf)] = _to_flax(leaf, value.astype(np.float32))
  return flax.traverse_util.unflatten_dict(flat)


def load_params(path: str) -> tuple[dict, str]:
  """Reads a weights .npz (see the module docstring).

  Args:
    path: the .npz file (``~`` is expanded).

  Returns:
    ``(params, sha256)``: the Flax params and the file's sha256.

  Raises:
    UserError: the file is missing, not an .npz, or not the FID InceptionV3's weights.
  """
  path = os.path.expanduser(path)
  if not path:
    raise UserError("no inception weights file given; set config.eval_inception_weights to the "
                    ".npz made as gan_jax/features/inception.py describes")
  if not os.path.isfile(path):
    raise UserError(f"inception weights file {path!r} does not exist; make it as "
                    "gan_jax/features/inception.py describes (it is never downloaded)")
  if not zipfile.is_zipfile(path):
    raise UserError(f"inception weights file {path!r} is not an .npz archive")
  try:
    with np.load(path, allow_pickle=False) as archive:
      arrays = {k: archive[k] for k in archive.files}
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    raise UserError(f"inception weights file {path!r} is not a readable .npz archive ({e})") \
        from None
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return params_from_state_dict(arrays, path), digest.hexdigest()


def convert_state_dict(torch_path: str, npz_path: str) -> None:
  """Converts a PyTorch FID Inception state dict (e.g. pytorch-fid's .pth) to the .npz format.

  Needs ``torch`` (only to unpickle the file). The arrays keep their names and
  layouts, and are checked with ``params_from_state_dict`` before writing.

  Raises:
    UserError: torch is missing, or the file is not the FID InceptionV3's weights.
  """
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError("converting a .pth file needs PyTorch: pip install torch (CPU is enough), "
                    "or convert on another machine") from None
  if not os.path.isfile(torch_path):
    raise UserError(f"{torch_path!r} does not exist")
  state = torch.load(torch_path, map_location="cpu", weights_only=True)
  if isinstance(state, dict) and "state_dict" in state:
    state = state["state_dict"]
  arrays = {k: v.detach().cpu().numpy() for k, v in state.items()}
  params_from_state_dict(arrays, torch_path)  # Refuse anything but the FID network.
  from gan_jax import reporting  # pylint: disable=g-import-not-at-top
  with reporting.replaced_whole(npz_path) as tmp:
    np.savez(tmp, **{k: v for k, v in arrays.items() if not k.endswith(_IGNORED_SUFFIX)})


class InceptionExtractor:
  """Features and class probabilities of uint8 images from the FID InceptionV3.

  Args:
    params: from ``load_params``.
    resolution: the resize target (299 for FID; smaller only for tests).
    batch_size: images per forward pass.
  """

  def __init__(self, params: dict, resolution: int = FID_RESOLUTION, batch_size: int = 50):
    if resolution < MIN_RESOLUTION:
      raise ValueError(f"resolution must be >= {MIN_RESOLUTION}, got {resolution}")
    self.num_classes = int(params["fc"]["bias"].shape[0])
    model = FIDInceptionV3(self.num_classes)
    self.batch_size = batch_size

    @jax.jit
    def forward(params, images):  # Params as an argument, not constants baked into the program.
      pool3, logits = model.apply({"params": params}, preprocess(images, resolution))
      return pool3, jax.nn.softmax(logits, axis=-1)

    params = jax.device_put(params)
    self._forward = lambda images: forward(params, images)

  def embed(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, H, W, C] -> (pool3 features [N, 2048], probabilities [N, num_classes])."""
    return tuple(batched_apply(self._forward, images, self.batch_size))


def check_images(image_shape: Sequence[int]) -> None:
  """Raises ValueError unless images of ``image_shape`` can be fed to the network."""
  if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
    raise ValueError(f"InceptionV3 takes grayscale or RGB images, got shape {tuple(image_shape)}")
