"""Runs the 2-D mixture benchmark for every optimizer and seed; writes a table.

    python -m experiments.mog_table [--seeds 5] [--optimizers adam cgd ...] \\
        [--datasets ring grid] [--variant default] [--out benchmarks/mog]

Every (data set, optimizer, seed) run is ``experiments.mog.train`` with the
optimizer's row of ``experiments.mog.SETTINGS`` (changed by ``--variant``, a
name in ``experiments.mog.VARIANTS``), in this process, one after
the other. Seeds are 0 .. seeds-1 (the settings were tuned on other seeds).
Each finished run is appended to ``OUT/runs.jsonl``; a rerun skips the runs
already there with the same settings, so an interrupted table resumes.

Writes ``OUT/results.md`` (mean +- standard error over seeds of the modes
captured, the fraction of high-quality samples, the reverse KL and the wall
time per run, with published numbers for context) and ``OUT/results.png``
(the samples of the first seed of every run, and the modes per optimizer).

References:
  Lin et al. 2018, "PacGAN: The power of two samples in generative
  adversarial networks", Table 1; Srivastava et al. 2017, "VEEGAN: Reducing
  mode collapse in GANs using implicit variational learning", Table 1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np

from experiments import cli
from experiments import mog
from gan_jax import determinism

# The grid target of the benchmark: every mode, >= 90% high-quality samples,
# reverse KL <= 0.04 (about PacGAN4's numbers on the grid).
TARGET = {"modes": 25, "high_quality": 0.9, "reverse_kl": 0.04}

# Published numbers, for context only: different architectures and budgets.
# None = not quoted here.
PUBLISHED = (
    # (method, source, ring modes, ring HQ, grid modes, grid HQ, grid KL)
    ("GAN", "PacGAN Table 1 (Lin et al. 2018)", 6.3, None, 17.3, None, None),
    ("PacGAN4", "PacGAN Table 1 (Lin et al. 2018)", 7.8, None, 24.8, 0.936, 0.04),
    ("Unrolled GAN", "VEEGAN Table 1 (Srivastava et al. 2017)", None, None, 23.6, 0.16, None),
    ("VEEGAN", "VEEGAN Table 1 (Srivastava et al. 2017)", None, None, 24.6, 0.40, None),
)

NUM_FIGURE_SAMPLES = 1000


def stored_key(run: dict[str, Any]) -> str:
  """A canonical string of a run's settings (``run["settings"]``, with its own
  ``run["steps"]``), to match stored runs to the table. Settings added to
  ``mog.Settings`` after a run was stored take their defaults (which
  reproduce the older runs)."""
  defaults = {f.name: f.default for f in dataclasses.fields(mog.Settings)
              if f.default is not dataclasses.MISSING}
  record = dict(json.loads(json.dumps(defaults)), **run["settings"])
  record["steps"] = run["steps"]
  return json.dumps(record, sort_keys=True)


def settings_key(settings: mog.Settings, dataset: str) -> str:
  """``stored_key`` of a run of ``settings`` on ``dataset``."""
  return stored_key({"settings": mog.settings_to_json(settings),
                     "steps": settings.steps[dataset]})


def load_runs(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def mean_se(values: Sequence[float]) -> tuple[float, float, int]:
  """Mean, standard error (sample std / sqrt(n); 0 for n = 1) and n of the
  finite values."""
  x = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
  if x.size == 0:
    return float("nan"), float("nan"), 0
  se = float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
  return float(np.mean(x)), se, int(x.size)


def _fmt(mean: float, se: float, n: int, total: int, digits: int, scale: float = 1.0) -> str:
  if n == 0:
    return "n/a"
  text = f"{mean * scale:.{digits}f} ± {se * scale:.{digits}f}"
  return text if n == total else f"{text} (n={n})"


def meets_target(run: dict[str, Any]) -> bool:
  kl = run["reverse_kl"]
  return (run["modes"] >= TARGET["modes"] and run["high_quality"] >= TARGET["high_quality"]
          and kl is not None and kl <= TARGET["reverse_kl"])


def dataset_table(dataset: str, optimizers: Sequence[str], runs: list[dict[str, Any]]) -> str:
  """The markdown table of one data set."""
  num_modes = mog.mixtures.get(dataset).modes.shape[0]
  lines = [
      f"| optimizer | loss | steps | modes (of {num_modes}) | high quality % | reverse KL "
      f"| wall s / run | seeds | diverged |" + (" target met |" if dataset == "grid" else ""),
      "|---|---|---|---|---|---|---|---|---|" + ("---|" if dataset == "grid" else ""),
  ]
  for name in optimizers:
    mine = [r for r in runs if r["dataset"] == dataset and r["optimizer"] == name]
    if not mine:
      continue
    total = len(mine)
    settings = mine[0]["settings"]
    cells = [
        name, settings["loss"], str(mine[0]["steps"]),
        _fmt(*mean_se([r["modes"] for r in mine]), total, 1),
        _fmt(*mean_se([r["high_quality"] for r in mine]), total, 1, 100.0),
        _fmt(*mean_se([r["reverse_kl"] for r in mine]), total, 3),
        _fmt(*mean_se([r["wall_s"] for r in mine]), total, 0),
        str(total),
        str(sum(not r["finite"] for r in mine)),
    ]
    if dataset == "grid":
      cells.append(f"{sum(meets_target(r) for r in mine)}/{total}")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def published_table() -> str:
  def cell(value, scale=1.0, digits=1):
    return "—" if value is None else f"{value * scale:.{digits}f}"

  lines = ["| method | source | ring modes (of 8) | grid modes (of 25) | grid high quality % "
           "| grid reverse KL |", "|---|---|---|---|---|---|"]
  for method, source, ring_modes, _, grid_modes, grid_hq, grid_kl in PUBLISHED:
    lines.append(f"| {method} | {source} | {cell(ring_modes)} | {cell(grid_modes)} | "
                 f"{cell(grid_hq, 100.0)} | {cell(grid_kl, digits=2)} |")
  return "\n".join(lines)


def write_markdown(path: str, optimizers: Sequence[str], datasets: Sequence[str],
                   runs: list[dict[str, Any]], command: str, wall_s: float,
                   variant: str = "default") -> None:
  """Writes results.md."""
  parts = [
      "# 2-D Gaussian mixtures: mode coverage per game optimizer",
      "",
      f"Produced by `{command}`; total wall time of the runs {wall_s / 60:.1f} min on "
      f"{os.cpu_count()} CPU cores ({platform.machine()}, JAX CPU), one run at a time. "
      "Mean ± standard error over seeds 0..S-1 (settings tuned on other seeds), 2,500 "
      "generated samples per run. A sample is high quality within 3 std of its nearest "
      "mode; a mode is captured with at least one high-quality sample; reverse KL is "
      "KL(mode histogram of the high-quality samples || uniform) "
      "(`gan_jax.metrics.mode_coverage.mixture_mode_stats`). Wall time per run includes "
      "compilation and evaluation; the seeds of one optimizer share its compiled code, so "
      "the first seed pays for the compilation. Settings per optimizer: "
      f"`experiments/mog.py` `SETTINGS`, changed by the variant {variant!r} "
      f"({mog.VARIANTS[variant] or 'no changes'}). A run whose losses became non-finite "
      "stops there and counts as diverged (0 modes, 0% high quality, reverse KL undefined); "
      "means of the reverse KL are over the runs where it is defined (n given when fewer "
      "than all).",
      "",
  ]
  for dataset in datasets:
    mixture = mog.mixtures.get(dataset)
    parts += [f"## {dataset}: {mixture.modes.shape[0]} Gaussians, std {mixture.std}", "",
              dataset_table(dataset, optimizers, runs), ""]
  parts += [
      f"Grid target: {TARGET['modes']}/25 modes, >= {100 * TARGET['high_quality']:.0f}% "
      f"high quality and reverse KL <= {TARGET['reverse_kl']} in a run; the last column "
      "counts the seeds that meet all three.",
      "",
      "## Published numbers (context only)",
      "",
      "Different architectures (e.g. 4 x 400-unit generators with batch norm), training "
      "budgets and sample counts; not comparable run for run. — = not quoted here.",
      "",
      published_table(),
      "",
  ]
  with open(path, "w") as f:
    f.write("\n".join(parts))


def write_figure(path: str, optimizers: Sequence[str], datasets: Sequence[str],
                 runs: list[dict[str, Any]], samples: dict[str, np.ndarray]) -> None:
  """One row of sample scatters per data set (first seed) and a bar chart of modes."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  cols = len(optimizers)
  fig = plt.figure(figsize=(1.25 * cols, 1.35 * len(datasets) + 1.8), dpi=72)
  grid = fig.add_gridspec(len(datasets) + 1, cols, height_ratios=[1] * len(datasets) + [1.3])
  for row, dataset in enumerate(datasets):
    mixture = mog.mixtures.get(dataset)
    lim = mog.plot_extent(mixture)
    for col, name in enumerate(optimizers):
      ax = fig.add_subplot(grid[row, col])
      points = samples.get(f"{dataset}/{name}")
      ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], s=6, c="tab:red", marker="x",
                 linewidths=0.6)
      if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=0.3, c="tab:blue", alpha=0.5, rasterized=True)
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_aspect("equal")
      if row == 0:
        ax.set_title(name, fontsize=6)
      if col == 0:
        ax.set_ylabel(dataset, fontsize=7)
  ax = fig.add_subplot(grid[len(datasets), :])
  width = 0.8 / len(datasets)
  for i, dataset in enumerate(datasets):
    num_modes = mog.mixtures.get(dataset).modes.shape[0]
    stats = [mean_se([r["modes"] / num_modes for r in runs
                      if r["dataset"] == dataset and r["optimizer"] == name])
             for name in optimizers]
    ax.bar(np.arange(cols) + (i - (len(datasets) - 1) / 2) * width, [s[0] for s in stats],
           width, yerr=[s[1] for s in stats], label=dataset, capsize=1.5)
  ax.set_xticks(np.arange(cols), optimizers, rotation=30, fontsize=6, ha="right")
  ax.set_ylabel("modes captured (fraction)", fontsize=6)
  ax.set_ylim(0, 1.05)
  ax.tick_params(labelsize=6)
  ax.legend(fontsize=6, loc="lower left")
  fig.tight_layout(pad=0.3)
  fig.savefig(path)
  plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = cli.ArgumentParser(prog="python -m experiments.mog_table",
                              description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=5, help="seeds 0..SEEDS-1 (default 5)")
  parser.add_argument("--optimizers", nargs="+", default=None,
                      help="default: adam and every registered game optimizer")
  parser.add_argument("--datasets", nargs="+", default=list(mog.DATASETS))
  parser.add_argument("--variant", default="default",
                      help=f"one of {', '.join(mog.VARIANTS)} (experiments.mog.VARIANTS)")
  parser.add_argument("--out", default=os.path.join("benchmarks", "mog"))
  args = parser.parse_args(argv)
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  optimizers = args.optimizers or mog.optimizer_names()
  try:
    if args.seeds < 1:
      raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    for dataset in args.datasets:
      mog.mixtures.get(dataset)
    settings = {name: mog.default_settings(name, args.variant) for name in optimizers}
    for name, row in settings.items():
      mog.check_settings(name, row, args.datasets)
  except ValueError as e:
    print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
    return 2

  os.makedirs(args.out, exist_ok=True)
  runs_path = os.path.join(args.out, "runs.jsonl")
  samples_path = os.path.join(args.out, "samples_seed0.npz")
  stored = [(stored_key(run), run) for run in load_runs(runs_path)]
  samples = dict(np.load(samples_path)) if os.path.exists(samples_path) else {}
  wanted = [(d, o, s) for d in args.datasets for o in optimizers for s in range(args.seeds)]
  runs = []
  last_group = None
  start = time.perf_counter()
  for index, (dataset, name, seed) in enumerate(wanted):
    key = settings_key(settings[name], dataset)
    previous = [r for stored_as, r in stored if stored_as == key
                and (r["dataset"], r["optimizer"], r["seed"]) == (dataset, name, seed)]
    if previous:
      runs.append(previous[-1])
      continue
    if (dataset, name) != last_group:
      mog.clear_compiled()  # Seeds of one group share compiled code; keep one group.
      last_group = (dataset, name)
    result = mog.train(dataset, name, seed, settings[name])
    record = mog.json_safe({k: v for k, v in result.items() if not k.startswith("_")})
    with open(runs_path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if seed == 0:
      samples[f"{dataset}/{name}"] = result["_samples"][:NUM_FIGURE_SAMPLES].astype(np.float32)
      np.savez_compressed(samples_path, **samples)
    runs.append(record)
    print(f"[{index + 1}/{len(wanted)}] {dataset} {name} seed {seed}: {record['modes']} modes, "
          f"HQ {record['high_quality']:.3f}, KL {record['reverse_kl']}, "
          f"{record['wall_s']:.0f} s", flush=True)
  total_wall = sum(r["wall_s"] for r in runs)
  command = " ".join(["python -m experiments.mog_table"]
                     + list(argv if argv is not None else sys.argv[1:]))
  write_markdown(os.path.join(args.out, "results.md"), optimizers, args.datasets, runs,
                 command.strip(), total_wall, args.variant)
  write_figure(os.path.join(args.out, "results.png"), optimizers, args.datasets, runs, samples)
  print(f"wrote {os.path.join(args.out, 'results.md')} and results.png; runs "
        f"{total_wall / 60:.1f} min, this invocation {(time.perf_counter() - start) / 60:.1f} min",
        flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
