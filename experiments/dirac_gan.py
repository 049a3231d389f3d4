"""Runs every game optimizer on the Dirac-GAN and says which converge.

    python -m experiments.dirac_gan --out DIR [--steps N]

The study of Mescheder, Geiger & Nowozin 2018, "Which Training Methods for
GANs do actually Converge?" (arXiv 1801.04406), sections 2-3, on
``gan_jax.dirac``: data at 0, G = theta, D(x) = psi * x, start
(theta, psi) = (1, 1), equilibrium (0, 0). It runs

* every optimizer in ``gan_jax.games.names()`` and per-player Adam
  (``gan_jax.dirac.adam``, alternating: D first) on the standard GAN
  ('minimax': the paper's zero-sum V) and on the non-saturating GAN;
* alternating gradient descent on the standard GAN with R1, R2 and instance
  noise, and on WGAN without and with the WGAN-GP penalty.

Step sizes, chosen once for the toy (``SETTINGS``): 0.3 for every method that
follows plain gradients (both players; CGD's one lr), 0.03 for the adaptive
ones (Adam, Extra-Adam, ACGD), whose steps are about lr long whatever the
gradient. Every other hyperparameter keeps the library's default unless
``SETTINGS`` names it.

It writes to DIR:

* ``dirac_gan.json``: per run, the verdict of ``gan_jax.dirac.classify``
  ('converges': the last 10% of the steps within 0.01 of (0, 0); 'diverges':
  the final distance above twice the start's, or not finite; otherwise
  'cycles'), the distances and the hyperparameters;
* ``dirac_gan.png``: one panel per run, its trajectory over the streamlines
  of its game's gradient-descent vector field.

Bad flags print one line ``error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import platform
import sys
import time
from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np

from experiments import cli
from gan_jax import determinism
from gan_jax import dirac
from gan_jax import games

START = (1.0, 1.0)
DEFAULT_STEPS = 2000
LR = 0.3           # every plain-gradient method, both players
ADAPTIVE_LR = 0.03  # Adam, Extra-Adam, ACGD
R1_GAMMA = 1.0
GP_LAMBDA = 1.0
NOISE_STD = 1.0

# The hyperparameters of each registered optimizer (and of 'adam') on the toy.
SETTINGS: Mapping[str, Mapping[str, Any]] = {
    "simultaneous_gda": dict(lr_x=LR, lr_y=LR),
    "alternating_gda": dict(lr_x=LR, lr_y=LR),
    "extragradient": dict(lr_x=LR, lr_y=LR),
    "optimistic_gda": dict(lr_x=LR, lr_y=LR),
    "extra_adam": dict(lr_x=ADAPTIVE_LR, lr_y=ADAPTIVE_LR),
    "consensus": dict(lr_x=LR, lr_y=LR, gamma=1.0),
    "sga": dict(lr_x=LR, lr_y=LR, lam=1.0),
    "unrolled": dict(lr_x=LR, lr_y=LR, unroll_steps=5),
    "lookahead": dict(inner="simultaneous_gda", k=5, alpha=0.5,
                      inner_hparams=dict(lr_x=LR, lr_y=LR)),
    "cgd": dict(lr=LR),
    "acgd": dict(lr=ADAPTIVE_LR),
    "adam": dict(lr_g=ADAPTIVE_LR, lr_d=ADAPTIVE_LR, b1=0.5, b2=0.999, alternating=True),
}


@dataclasses.dataclass(frozen=True)
class Run:
  """One optimizer on one Dirac game.

  Attributes:
    label: the run's name in the JSON and on its panel.
    optimizer: a name in ``gan_jax.games.names()`` or 'adam'.
    loss: a ``gan_jax.losses`` name.
    regularizer: a ``gan_jax.regularizers`` name or None.
    weight: the regularizer's weight.
    instance_noise: the instance noise's standard deviation.
  """

  label: str
  optimizer: str
  loss: str
  regularizer: Optional[str] = None
  weight: float = 0.0
  instance_noise: float = 0.0


def runs() -> list[Run]:
  """Every run of the study, in table order."""
  first = ["simultaneous_gda", "alternating_gda"]
  optimizers = first + [n for n in games.names() if n not in first] + ["adam"]
  out = []
  for loss in ("minimax", "non_saturating"):
    out += [Run(f"{name} ({loss})", name, loss) for name in optimizers]
  out += [
      Run("alternating_gda + R1", "alternating_gda", "minimax", "r1", R1_GAMMA),
      Run("alternating_gda + R2", "alternating_gda", "minimax", "r2", R1_GAMMA),
      Run("alternating_gda + instance noise", "alternating_gda", "minimax",
          instance_noise=NOISE_STD),
      Run("alternating_gda (WGAN)", "alternating_gda", "wasserstein"),
      Run("alternating_gda + GP (WGAN-GP)", "alternating_gda", "wasserstein", "gp", GP_LAMBDA),
  ]
  return out


def build_optimizer(name: str) -> games.GameOptimizer:
  """The optimizer ``name`` with the study's hyperparameters."""
  if name == "adam":
    return dirac.adam(**SETTINGS["adam"])
  return games.get(name, **SETTINGS.get(name, {}))


def run_study(steps: int) -> tuple[list[dict[str, Any]], dict[str, np.ndarray],
                                   dict[str, dirac.DiracGame]]:
  """Runs every run; returns the records, the trajectories and the games by label."""
  game_cache: dict[tuple, dirac.DiracGame] = {}
  optimizer_cache: dict[str, games.GameOptimizer] = {}
  records, trajectories, games_by_label = [], {}, {}
  for run in runs():
    key = (run.loss, run.regularizer, run.weight, run.instance_noise)
    if key not in game_cache:
      game_cache[key] = dirac.dirac_game(run.loss, run.regularizer, run.weight,
                                         run.instance_noise)
    if run.optimizer not in optimizer_cache:
      optimizer_cache[run.optimizer] = build_optimizer(run.optimizer)
    game = game_cache[key]
    traj = np.asarray(dirac.simulate(game, optimizer_cache[run.optimizer], *START, steps))
    record = dict(method=run.label, optimizer=run.optimizer, loss=run.loss,
                  regularizer=run.regularizer, regularizer_weight=run.weight,
                  instance_noise=run.instance_noise,
                  hyperparameters=dict(SETTINGS.get(run.optimizer, {})),
                  game=game.spec, **dirac.summary(traj),
                  final_point=[float(v) for v in traj[-1]])
    records.append(record)
    trajectories[run.label] = traj
    games_by_label[run.label] = game
  return records, trajectories, games_by_label


def _json_number(value: Any) -> Any:
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)  # 'inf' / 'nan': JSON has no such numbers
  if isinstance(value, dict):
    return {k: _json_number(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_json_number(v) for v in value]
  return value


def plot(path: str, records: Sequence[dict[str, Any]], trajectories: Mapping[str, np.ndarray],
         games_by_label: Mapping[str, dirac.DiracGame]) -> None:
  """One panel per run: its trajectory over its game's streamlines."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  colors = {"converges": "tab:green", "cycles": "tab:orange", "diverges": "tab:red"}
  cols = 6
  rows = -(-len(records) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.1 * rows), squeeze=False)
  field = jax.jit(dirac.vector_field, static_argnums=0)
  for ax, record in zip(axes.ravel(), records):
    traj = trajectories[record["method"]]
    finite = traj[np.all(np.isfinite(traj), axis=1)]
    extent = float(np.clip(1.15 * np.max(np.abs(finite)), 1.6, 6.0))
    grid = np.linspace(-extent, extent, 31)
    tt, pp = np.meshgrid(grid, grid)
    v = np.asarray(field(games_by_label[record["method"]], tt, pp))
    speed = np.hypot(v[..., 0], v[..., 1])
    ax.streamplot(tt, pp, v[..., 0], v[..., 1], density=0.7, color=speed, cmap="Greys",
                  linewidth=0.6, arrowsize=0.7)
    color = colors[record["verdict"]]
    ax.plot(finite[:, 0], finite[:, 1], color=color, linewidth=1.0)
    ax.plot(*finite[0], "o", color="tab:blue", markersize=5, label="start")
    ax.plot(*finite[-1], "*", color="black", markersize=9, label="end")
    ax.plot(0, 0, "+", color="tab:blue", markersize=10, markeredgewidth=2)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_title(f"{record['method']}\n{record['verdict']}, d = {record['final_distance']:.2g}",
                 fontsize=9, color=color)
  for ax in axes.ravel()[len(records):]:
    ax.axis("off")
  for ax in axes[:, 0]:
    ax.set_ylabel("psi (D)", fontsize=8)
  for ax in axes[-1]:
    ax.set_xlabel("theta (G)", fontsize=8)
  steps = len(next(iter(trajectories.values()))) - 1
  fig.suptitle(f"Dirac-GAN (Mescheder et al. 2018): {steps} steps from (theta, psi) = "
               f"{START}; blue + = equilibrium, * = end", fontsize=12)
  fig.tight_layout(rect=(0, 0, 1, 0.98))
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=80)
  plt.close(fig)
  # A 256-colour palette: a third of the bytes of the RGBA file.
  from PIL import Image  # pylint: disable=g-import-not-at-top  (matplotlib's own dependency)
  buffer.seek(0)
  Image.open(buffer).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(
      path, optimize=True)


def make_parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m experiments.dirac_gan",
                              description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="directory for dirac_gan.json/.png")
  parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                      help=f"steps of every run, >= 10 (default {DEFAULT_STEPS})")
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = make_parser().parse_args(argv)
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  if args.steps < 10:
    cli.fail(f"--steps must be an integer >= 10, got {args.steps}")
  if os.path.exists(args.out) and not os.path.isdir(args.out):
    cli.fail(f"--out {args.out!r} exists and is not a directory")
  try:
    os.makedirs(args.out, exist_ok=True)
  except OSError as e:
    cli.fail(f"cannot create --out {args.out!r}: {e.strerror}")
  start = time.time()
  records, trajectories, games_by_label = run_study(args.steps)
  wall_s = time.time() - start
  summary = {
      "reference": "Mescheder, Geiger & Nowozin 2018, arXiv 1801.04406, sections 2-3",
      "steps": args.steps, "start": list(START),
      "classifier": "converges: last 10% of steps within 0.01 of (0,0); diverges: final "
                    "distance > 2 x start distance or not finite; otherwise cycles",
      "jax": jax.__version__, "python": platform.python_version(),
      "backend": jax.default_backend(), "wall_s": wall_s,
      "runs": records,
  }
  with open(os.path.join(args.out, "dirac_gan.json"), "w") as f:
    json.dump(_json_number(summary), f, indent=1)
  plot(os.path.join(args.out, "dirac_gan.png"), records, trajectories, games_by_label)
  for r in records:
    print(f"{r['method']:42s} {r['verdict']:10s} {r['final_distance']:.3g}")
  print(f"{len(records)} runs, {wall_s:.1f} s; wrote {args.out}/dirac_gan.json and .png",
        flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
