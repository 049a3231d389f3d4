"""``python -m experiments.sample``: N samples of a trained run as an .npz and a PNG grid."""

import os
import re

import numpy as np
import pytest
from PIL import Image

from conftest import run_python
from gan_jax import train


def _labelled_npz(path, num_classes=3):
  """64 labelled 16x16 noise images."""
  rng = np.random.default_rng(0)
  np.savez(path, x_train=rng.integers(0, 255, (64, 16, 16)).astype(np.uint8),
           y_train=rng.integers(0, num_classes, 64))
  return "npz:" + str(path)


def _shrunk(config, dataset):
  config.dataset = dataset
  config.num_steps = config.steps_per_call = config.log_every = 5
  config.checkpoint_every, config.eval_every, config.sample_every = 5, 0, 0
  config.batch_size = 8
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """An unconditional run with an EMA generator and a class-conditional DCGAN run."""
  from experiments.configs import tiny
  root = tmp_path_factory.mktemp("sample")
  dataset = _labelled_npz(root / "data.npz")
  plain = _shrunk(tiny.get_config(), dataset)
  plain.g_ema_decay = 0.9
  conditional = _shrunk(tiny.get_config(), dataset)
  conditional.update(dict(model="dcgan", width=4, conditioning="projection", num_classes=3,
                          image_size=16))
  workdirs = {}
  for name, config in (("plain", plain), ("conditional", conditional)):
    workdirs[name] = str(root / name)
    train.train_and_evaluate(config, workdirs[name])
  return workdirs


def _sample(*args):
  return run_python(["-m", "experiments.sample", *args])


def test_samples_are_uint8_reproducible_from_the_seed_with_a_grid(runs, tmp_path):
  from experiments import sample
  outs = [str(tmp_path / f"{name}.npz") for name in ("a", "b", "c")]
  result = _sample("--workdir", runs["plain"], "--num", "7", "--out", outs[0], "--seed", "1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "EMA generator at step 5" in result.stdout
  for out, seed in zip(outs[1:], (1, 2)):  # In this process: the command's draw, bit for bit.
    sample.sample(runs["plain"], "latest", 7, out, seed, None)
  a, b, c = (np.load(out) for out in outs)
  assert a.files == ["images"]
  assert a["images"].dtype == np.uint8 and a["images"].shape == (7, 16, 16, 1)
  np.testing.assert_array_equal(a["images"], b["images"])
  assert not np.array_equal(a["images"], c["images"])
  grid = np.asarray(Image.open(outs[0][:-4] + ".png"))
  assert grid.shape == (3 * 17 + 1, 3 * 17 + 1)  # 7 images: 3 x 3 tiles of 16 + 1 pad.


def test_conditional_run_takes_labels(runs, tmp_path):
  out = str(tmp_path / "cond.npz")
  result = _sample("--workdir", runs["conditional"], "--num", "5", "--out", out,
                   "--labels", "2,0", "--checkpoint", "5")
  assert result.returncode == 0, result.stderr[-2000:]
  drawn = np.load(out)
  np.testing.assert_array_equal(drawn["labels"], [2, 0, 2, 0, 2])
  assert drawn["images"].shape == (5, 16, 16, 1)
  from experiments import sample
  default = str(tmp_path / "default.npz")
  sample.sample(runs["conditional"], "latest", 7, default, 0, None)
  drawn = np.load(default)
  np.testing.assert_array_equal(drawn["labels"], [0, 1, 2, 0, 1, 2, 0])
  # The grid: one class per row, the first 7 // 3 = 2 samples of each (the 7th is left out).
  grid = np.asarray(Image.open(default[:-4] + ".png"))
  assert grid.shape == (3 * 17 + 1, 2 * 17 + 1)
  for row, col in np.ndindex(3, 2):
    tile = grid[1 + 17 * row:17 * (row + 1), 1 + 17 * col:17 * (col + 1)]
    np.testing.assert_array_equal(tile, drawn["images"][row + 3 * col, ..., 0])
  # Requested labels keep the drawn order in a square grid (3 x 2 tiles, row by row).
  square = np.asarray(Image.open(out[:-4] + ".png"))
  assert square.shape == (3 * 17 + 1, 2 * 17 + 1)
  for i, image in enumerate(np.load(out)["images"]):
    row, col = divmod(i, 2)
    np.testing.assert_array_equal(
        square[1 + 17 * row:17 * (row + 1), 1 + 17 * col:17 * (col + 1)], image[..., 0])


def _one_line_error(result, message):
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_bad_requests_are_one_line_errors_and_write_nothing(runs, tmp_path):
  from experiments import sample
  from gan_jax.checkpoint import parse_choice
  from gan_jax.errors import UserError
  out = str(tmp_path / "x.npz")
  # Through the command line: a flag's bound, and an error raised inside the draw.
  _one_line_error(_sample("--workdir", runs["plain"], "--num", "0", "--out", out), "--num")
  _one_line_error(_sample("--workdir", str(tmp_path / "none"), "--num", "2", "--out", out),
                  "does not exist")
  # The others in this process (each CLI run costs seconds of jax start-up): the
  # command prints the UserError's message as its one line.
  cases = [
      (dict(workdir=runs["plain"], requested_labels=[1]), "unconditional"),
      (dict(workdir=runs["plain"], choice=parse_choice("best")), "no best checkpoint"),
      (dict(workdir=runs["conditional"], requested_labels=[3]), "outside [0, 3)"),
      (dict(workdir=runs["plain"], out=out[:-4] + ".png"), "must end in .npz"),
  ]
  for kwargs, message in cases:
    kwargs = dict(dict(choice=parse_choice("latest"), num=2, out=out, seed=0,
                       requested_labels=None), **kwargs)
    with pytest.raises(UserError, match=re.escape(message)) as error:
      sample.sample(**kwargs)
    assert "\n" not in str(error.value)
  with pytest.raises(UserError, match=re.escape("--labels='a'")):
    sample.parse_labels("a")
  assert os.listdir(tmp_path) == []


def test_help_exits_zero():
  result = _sample("--help")
  assert result.returncode == 0 and "--num" in result.stdout
