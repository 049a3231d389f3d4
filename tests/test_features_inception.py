"""The FID InceptionV3 module: shapes, weight files (generated here, random), errors."""

import functools
import importlib.util

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import features
from gan_jax.errors import UserError
from gan_jax.features import inception

# Inputs are resized to this instead of 299 to keep the test fast on a CPU.
SMALL = inception.MIN_RESOLUTION


@functools.lru_cache(maxsize=1)
def _random_state_dict(seed: int) -> dict:
  rng = np.random.default_rng(seed)
  arrays = {}
  for name, shape in inception.state_dict_shapes().items():
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    arrays[name] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)
    if name.endswith("running_var"):
      arrays[name] = np.abs(arrays[name]) + 1.0
  arrays["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.array(0)  # As PyTorch saves it: ignored.
  return arrays


def random_state_dict(seed: int = 0) -> dict:
  """Random weights of the right names and shapes (a fresh dict; the arrays are shared)."""
  return dict(_random_state_dict(seed))


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
  path = tmp_path_factory.mktemp("inception") / "fid_inception.npz"
  np.savez(path, **random_state_dict())
  return str(path)


def test_state_dict_names_and_shapes():
  shapes = inception.state_dict_shapes()
  assert len(shapes) == 94 * 5 + 2  # 94 conv + batch-norm layers, and fc.
  assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
  assert shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
  assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
  assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == (128, 128, 1, 7)
  assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
  assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
  assert shapes["fc.weight"] == (1008, 2048) and shapes["fc.bias"] == (1008,)


def test_output_shapes_at_fid_resolution():
  model = inception.FIDInceptionV3()
  x = jax.ShapeDtypeStruct((2, 299, 299, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  pool3, logits = jax.eval_shape(model.apply, variables, x)
  assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)


def test_preprocess_resizes_and_scales():
  images = np.full((2, 28, 28, 1), 255, np.uint8)
  images[1] = 0
  out = inception.preprocess(images)
  assert out.shape == (2, 299, 299, 3)
  np.testing.assert_allclose(out[0], 1.0, atol=1e-6)
  np.testing.assert_allclose(out[1], -1.0, atol=1e-6)


def test_conv_bn_matches_its_definition():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
  p = {"kernel": rng.normal(size=(1, 1, 2, 3)).astype(np.float32),
       "scale": np.array([1.0, 2.0, 0.5], np.float32),
       "bias": np.array([0.1, -0.2, 0.3], np.float32),
       "mean": np.array([0.0, 1.0, -1.0], np.float32),
       "var": np.array([1.0, 4.0, 0.25], np.float32)}
  out = inception.ConvBN(3, (1, 1)).apply({"params": p}, x)
  conv = np.einsum("nhwc,co->nhwo", x, p["kernel"][0, 0])
  expected = np.maximum((conv - p["mean"]) / np.sqrt(p["var"] + 1e-3) * p["scale"] + p["bias"], 0)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_weights_load_and_round_trip(weights_file):
  params, digest = inception.load_params(weights_file)
  assert len(digest) == 64
  assert params["Conv2d_1a_3x3"]["kernel"].shape == (3, 3, 3, 32)  # HWIO in Flax.
  assert params["fc"]["kernel"].shape == (2048, 1008)
  back = inception.params_to_state_dict(params)
  original = random_state_dict()
  del original["Conv2d_1a_3x3.bn.num_batches_tracked"]
  assert sorted(back) == sorted(original)
  for name in ("Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7_2.conv.weight", "fc.weight"):
    np.testing.assert_array_equal(back[name], original[name])


def test_features_and_probabilities_from_loaded_weights(weights_file):
  params, _ = inception.load_params(weights_file)
  extractor = inception.InceptionExtractor(params, resolution=SMALL, batch_size=2)
  images = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1)).astype(np.uint8)
  feats, probs = extractor.embed(images)
  assert feats.shape == (3, 2048) and probs.shape == (3, 1008)
  assert np.all(np.isfinite(feats)) and np.all(feats >= 0)  # pool3 follows a ReLU.
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
  again, _ = extractor.embed(images)
  np.testing.assert_array_equal(again, feats)
  assert not np.allclose(feats[0], feats[1])


def test_registry_builds_inception_from_config(weights_file):
  config = ml_collections.ConfigDict({"eval_inception_weights": weights_file})
  dataset = type("D", (), {"image_shape": (28, 28, 1)})()
  extractor = features.build("inception", config, dataset)
  assert extractor.name == "inception" and extractor.num_classes == 1008
  assert extractor.hash == inception.load_params(weights_file)[1]


def _write(path, arrays):
  np.savez(path, **arrays)
  return str(path)


@pytest.mark.parametrize("make,message", [
    (lambda p: str(p / "missing.npz"), "does not exist"),
    (lambda p: (p / "x.npz").write_bytes(b"not a zip") and str(p / "x.npz"), "is not an .npz"),
    (lambda p: _write(p / "x.npz", {"a": np.zeros(3)}), "no 1-D 'fc.bias'"),
    (lambda p: _write(p / "x.npz", {k: v for k, v in random_state_dict().items()
                                    if not k.startswith("Mixed_7c.branch1x1")}),
     "lack 5 of the 472 arrays, e.g. 'Mixed_7c.branch1x1.bn.bias'"),
    (lambda p: _write(p / "x.npz", {**random_state_dict(), "AuxLogits.fc.weight": np.zeros(2)}),
     "hold 1 arrays that the FID InceptionV3 does not have, e.g. 'AuxLogits.fc.weight'"),
    (lambda p: _write(p / "x.npz", {**random_state_dict(),
                                    "Mixed_5b.branch1x1.conv.weight": np.zeros((64, 192, 3, 3))}),
     "'Mixed_5b.branch1x1.conv.weight' has shape (64, 192, 3, 3), expected (64, 192, 1, 1)"),
])
def test_bad_weight_files_are_refused(tmp_path, make, message):
  path = make(tmp_path)
  with pytest.raises(UserError) as error:
    inception.load_params(path)
  assert message in str(error.value)
  assert "\n" not in str(error.value)


def test_config_needs_the_weights_file():
  from experiments.configs import tiny
  from gan_jax import config as config_lib
  config = tiny.get_config()
  config.eval_features = "inception"
  with pytest.raises(UserError, match="needs config.eval_inception_weights"):
    config_lib.validate(config)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_conversion_without_torch_says_so(tmp_path):
  with pytest.raises(UserError, match="needs PyTorch"):
    inception.convert_state_dict(str(tmp_path / "in.pth"), str(tmp_path / "out.npz"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_conversion_of_a_torch_state_dict(tmp_path):
  import torch
  arrays = random_state_dict()
  torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}, tmp_path / "w.pth")
  inception.convert_state_dict(str(tmp_path / "w.pth"), str(tmp_path / "w.npz"))
  params, _ = inception.load_params(str(tmp_path / "w.npz"))
  np.testing.assert_array_equal(inception.params_to_state_dict(params)["fc.weight"],
                                arrays["fc.weight"])
  del arrays["fc.bias"]
  torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}, tmp_path / "b.pth")
  with pytest.raises(UserError, match="no 1-D 'fc.bias'"):
    inception.convert_state_dict(str(tmp_path / "b.pth"), str(tmp_path / "b.npz"))
  assert not (tmp_path / "b.npz").exists()
