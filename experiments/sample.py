"""Draws samples from a trained run into an .npz and a PNG grid.

Usage: ``python -m experiments.sample --workdir DIR --num N --out FILE.npz
[--checkpoint best|latest|STEP] [--seed S] [--labels 0,1,...]``.

Rebuilds the run from ``DIR/config.json`` (as ``experiments.evaluate`` does),
restores the chosen checkpoint (``latest`` by default; ``best`` is
checkpoints/best/, the best by ``config.best_metric``) and writes

- ``FILE.npz``: ``images``, uint8 [N, H, W, C] (0-255, like the data), and for
  a class-conditional run ``labels``, int32 [N];
- ``FILE.png``: a grid of the first min(N, 256) samples; with a conditional
  run's default labels, the first min(N, 256) // K of each of the K classes,
  one class per row (class c in row c), as in the training run's grids.

The generator is the EMA one when the run keeps it (``config.g_ema_decay``),
in inference mode (batch-norm running averages). The latents are
``gan_jax.train_step.latents`` of ``fold_in(PRNGKey(--seed), 0)``, so the same
flags draw the same images. A conditional run's labels are ``--labels``
repeated to N (default 0, 1, ..., K-1 repeated).

A missing workdir or checkpoint, a bad ``--num``, ``--out`` or ``--labels``
(or labels for an unconditional run) is a one-line ``error: ...`` and exit
status 2; nothing is written then.
"""

import functools
import os
from typing import Optional

import numpy as np
from absl import app, flags, logging

from experiments import cli
from gan_jax import determinism

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory to sample from.", required=True)
_NUM = flags.DEFINE_integer("num", None, "Number of samples.", lower_bound=1, required=True)
_OUT = flags.DEFINE_string("out", None, "Output .npz path (the grid goes next to it as .png).",
                           required=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest",
                                  "Which checkpoint: 'latest', 'best' (checkpoints/best/, by "
                                  "config.best_metric) or a step number.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents.", lower_bound=0,
                             upper_bound=2**32 - 1)
_LABELS = flags.DEFINE_string("labels", None,
                              "Comma-separated class labels for a conditional run, repeated "
                              "to --num; default 0..K-1 repeated.")

# Samples per generator call, and at most this many in the PNG grid.
BATCH = 500
GRID_MAX = 256
# fold_in tag of the latents' key (the labels need no key: they are given).
LATENT_TAG = 0


def parse_labels(text: Optional[str]) -> Optional[list[int]]:
  """``--labels`` '0,3,7' -> [0, 3, 7]; None -> None.

  Raises:
    UserError: an empty list or an entry that is not an integer >= 0.
  """
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  if text is None:
    return None
  parts = [p.strip() for p in text.split(",")]
  if not parts or not all(p.isdigit() for p in parts):
    raise UserError(f"--labels={text!r} is not allowed; it must be comma-separated class "
                    "numbers >= 0, e.g. 0,1,2")
  return [int(p) for p in parts]


def check_out(path: str) -> str:
  """The .png path next to ``path``; refuses a non-.npz name or a missing folder."""
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  if not path.endswith(".npz"):
    raise UserError(f"--out={path!r} must end in .npz")
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
    raise UserError(f"--out={path!r}: folder {folder} does not exist or is not writable")
  return path[:-len(".npz")] + ".png"


def class_labels(config, requested: Optional[list[int]], num: int) -> Optional[np.ndarray]:
  """The int32 [num] labels of the samples (None for an unconditional run).

  Raises:
    UserError: labels for an unconditional run, or outside [0, num_classes).
  """
  from gan_jax import networks  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  num_classes = networks.num_classes(config)
  if not num_classes:
    if requested is not None:
      raise UserError(f"--labels applies to a class-conditional run; this run is unconditional "
                      f"(config.conditioning={config.conditioning!r})")
    return None
  requested = requested if requested is not None else list(range(num_classes))
  if max(requested) >= num_classes:
    raise UserError(f"--labels has class {max(requested)}, outside [0, {num_classes}) of "
                    f"config.num_classes={num_classes}")
  return np.resize(np.asarray(requested, np.int32), num)


def draw(generator, view, config, num: int, seed: int,
         labels: Optional[np.ndarray]) -> np.ndarray:
  """The generator's raw outputs for ``num`` latents (EMA when kept): float [num, ...].

  Images in [-1, 1] [num, H, W, C]; a mixture run's points [num, D], still scaled.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import train_step  # pylint: disable=g-import-not-at-top
  from gan_jax.features.common import batched_apply  # pylint: disable=g-import-not-at-top

  key = jax.random.fold_in(jax.random.PRNGKey(seed), LATENT_TAG)
  z = np.asarray(train_step.latents(key, num, config.latent_dim))
  variables = view.generator
  sample = jax.jit(functools.partial(train_step.generate, generator))
  fn = lambda i: (sample(variables, z[i], None if labels is None else labels[i]),)
  (outputs,) = batched_apply(fn, np.arange(num), BATCH)
  return outputs


def grid_layout(num: int, num_classes: int, default_labels: bool) -> tuple[np.ndarray, Optional[int]]:
  """The indices of the samples the PNG grid shows, and its row count (None: square).

  Default labels cycle 0..K-1, so sample i has class i % K: the grid then takes
  the first min(num, GRID_MAX) // K samples of each class, class c in row c.
  """
  shown = min(num, GRID_MAX)
  per_class = shown // num_classes if num_classes and default_labels else 0
  if not per_class:
    return np.arange(shown), None
  index = np.arange(num_classes)[:, None] + num_classes * np.arange(per_class)[None, :]
  return index.ravel(), num_classes


def write(out: str, png: str, images: np.ndarray, labels: Optional[np.ndarray],
          grid: tuple[np.ndarray, Optional[int]]) -> None:
  """The .npz (written whole, then renamed) and the PNG grid ``grid_layout`` chose."""
  from gan_jax import data, reporting  # pylint: disable=g-import-not-at-top
  arrays = {"images": images, **({} if labels is None else {"labels": labels})}
  with reporting.replaced_whole(out) as tmp:
    np.savez(tmp, **arrays)
  index, rows = grid
  reporting.save_png(png, reporting.image_grid(data.to_float(images[index]), rows=rows))


def sample(workdir: str, choice, num: int, out: str, seed: int,
           requested_labels: Optional[list[int]]) -> dict:
  """Draws and writes the samples; returns what was done (step, EMA, paths)."""
  from experiments import run_dir  # pylint: disable=g-import-not-at-top
  from gan_jax import data, families, networks  # pylint: disable=g-import-not-at-top

  png = check_out(out)
  config, _, dataset, generator, _, state = run_dir.load_run(workdir, choice)
  labels = class_labels(config, requested_labels, num)
  view = families.for_config(config).inference(state)
  outputs = draw(generator, view, config, num, seed, labels)
  own = getattr(data.hooks_of(dataset), "write_samples", None)
  if own is not None:  # Not images (a mixture's points).
    own(dataset, outputs, out, png)
    return {"step": int(state.step), "ema": view.ema, "png": png, "shape": outputs.shape}
  images = data.to_uint8(outputs)
  num_classes = networks.num_classes(config)
  write(out, png, images, labels, grid_layout(num, num_classes, requested_labels is None))
  return {"step": int(state.step), "ema": view.ema, "png": png,
          "shape": images.shape}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  from gan_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top

  try:
    choice = checkpoint.parse_choice(_CHECKPOINT.value)
    labels = parse_labels(_LABELS.value)
    check_out(_OUT.value)
    done = sample(_WORKDIR.value, choice, _NUM.value, _OUT.value, _SEED.value, labels)
  except UserError as e:
    cli.fail(str(e))
  generator = "EMA generator" if done["ema"] else "generator"
  print(f"wrote {_OUT.value}: {done['shape'][0]} samples {tuple(done['shape'][1:])} of the "
        f"{generator} at step {done['step']} (seed {_SEED.value}); grid {done['png']}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
