"""``config.dataset = 'images:DIR'``: folders of PNG/JPEG files, and the device memory check."""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_python
from gan_jax import data, train
from gan_jax.errors import UserError


def _save(path, pixels):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(pixels).save(path)


def _band(width=32, height=16, value=200):
  """RGB, black but for a band of ``value`` in the middle half of the columns."""
  pixels = np.zeros((height, width, 3), np.uint8)
  pixels[:, width // 4:3 * width // 4] = value
  return pixels


@pytest.fixture
def labelled(tmp_path):
  """cat/: 2 PNGs; dog/: a JPEG in a nested folder and a PNG; plus files that are skipped."""
  root = tmp_path / "pets"
  _save(str(root / "cat" / "a.png"), _band())
  _save(str(root / "cat" / "b.PNG"), _band(value=100))
  _save(str(root / "dog" / "deep" / "c.jpg"), _band(width=16, height=32))
  _save(str(root / "dog" / "d.png"), _band(width=64, height=32))
  (root / "dog" / "notes.txt").write_text("not an image")
  (root / ".hidden").mkdir()
  return str(root)


def test_subfolders_are_sorted_classes_and_images_are_center_cropped(labelled):
  dataset = data.load("images:" + labelled, image_size=16, image_channels=3)
  assert dataset.images.shape == (4, 16, 16, 3) and dataset.images.dtype == np.uint8
  np.testing.assert_array_equal(dataset.labels, [0, 0, 1, 1])
  # cat/a.png: 32x16, so the crop is its middle 16 columns, the band itself.
  np.testing.assert_array_equal(dataset.images[0], 200)
  np.testing.assert_array_equal(dataset.images[1], 100)
  # dog/d.png (a folder's files come before its subfolders'): 64x32 halved
  # to 32x16, then the same crop.
  assert abs(dataset.images[2].astype(int).mean() - 200) <= 2
  # dog/deep/c.jpg: 16x32 portrait, its middle rows kept: half of it is the band.
  assert abs(dataset.images[3].astype(int).mean() - 100) <= 5
  assert dataset.eval_images is None


def test_grayscale_and_a_folder_without_subfolders_has_no_labels(tmp_path):
  for i in range(3):
    _save(str(tmp_path / "flat" / f"{i}.png"), _band(value=60 * (i + 1)))
  dataset = data.load("images:" + str(tmp_path / "flat"), image_size=8, image_channels=1)
  assert dataset.images.shape == (3, 8, 8, 1) and dataset.labels is None
  assert list(dataset.images[:, 4, 4, 0]) == [60, 120, 180]


@pytest.mark.parametrize("case,message", [
    ("unreadable", "cannot read image file "),
    ("no_size", "needs config.image_size > 0"),
    ("channels", "needs config.image_channels=1 (grayscale) or 3 (RGB)"),
    ("missing", "does not exist or is not a folder"),
    ("empty", "holds no PNG or JPEG files"),
    ("loose", "has class subfolders (a) and also 1 image file(s) at its top level"),
])
def test_bad_folders_are_one_line_errors(tmp_path, case, message):
  root = tmp_path / "imgs"
  _save(str(root / "a" / "ok.png"), _band())
  size, channels = 16, 3
  if case == "unreadable":
    (root / "a" / "bad.png").write_bytes(b"\x89PNG not really")
    message += repr(str(root / "a" / "bad.png"))
  elif case == "no_size":
    size = 0
  elif case == "channels":
    channels = 2
  elif case == "missing":
    root = tmp_path / "nothing"
  elif case == "empty":
    root = tmp_path / "empty"
    root.mkdir()
  elif case == "loose":
    _save(str(root / "top.png"), _band())
  with pytest.raises(UserError) as error:
    data.load("images:" + str(root), image_size=size, image_channels=channels)
  assert message in str(error.value) and "\n" not in str(error.value)


def test_image_channels_must_match_other_sources(tiny_config):
  tiny_config.image_channels = 3
  with pytest.raises(UserError, match="differs from the 1-channel images of 'mnist_5k'"):
    data.for_config(tiny_config)


def _train_cli(workdir, *overrides):
  return run_python(["-m", "experiments.train", "--config", "experiments/configs/tiny.py",
                     "--workdir", workdir, "--config.num_steps=10", "--config.eval_every=0",
                     "--config.checkpoint_every=0", "--config.sample_every=0", *overrides])


def test_a_run_trains_on_an_image_folder_and_an_unreadable_file_stops_it(labelled, tmp_path):
  dataset = f"--config.dataset=images:{labelled}"
  result = _train_cli(str(tmp_path / "run"), dataset, "--config.image_size=16",
                      "--config.image_channels=1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "data: images:" in result.stdout and "4 images 16x16x1 uint8, 2 classes" in result.stdout
  assert os.path.exists(tmp_path / "run" / "checkpoints" / "10")
  bad = os.path.join(labelled, "cat", "broken.jpg")
  with open(bad, "wb") as f:
    f.write(b"\xff\xd8 truncated")
  result = _train_cli(str(tmp_path / "run2"), dataset, "--config.image_size=16",
                      "--config.image_channels=1")
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("error: cannot read image file ") and bad in lines[0]
  assert not os.path.exists(tmp_path / "run2")


def test_a_data_set_over_the_device_budget_is_refused_before_anything_is_written(
    tiny_config, tmp_path, monkeypatch):
  monkeypatch.setattr(data, "device_budget", lambda: 2**20)
  with pytest.raises(UserError) as error:
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  message = str(error.value)
  assert message.startswith("dataset 'mnist_5k' needs 3.8 MiB on each device (5000 images "
                            "28x28x1 uint8, kept on the device whole), more than its budget of "
                            "1.0 MiB (50% of the device's free memory"), message
  assert not os.path.exists(tmp_path / "run")


def test_device_budget_is_none_on_cpu_and_half_the_free_memory_elsewhere(monkeypatch):
  import jax

  class _Device:
    def memory_stats(self):
      return {"bytes_limit": 1000, "bytes_in_use": 200}

  assert data.device_budget() is None  # The CPU backend reports no memory stats.
  monkeypatch.setattr(jax, "local_devices", lambda: [_Device()])
  assert data.device_budget() == 400
