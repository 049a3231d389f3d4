"""Runs the 2-D mixture benchmark for every optimizer and seed; writes a table.

    python -m experiments.mog_table [--seeds 5] [--optimizers adam cgd ...] \\
        [--datasets ring grid] [--set KEY=VALUE ...] [--out benchmarks/mog] [--recorded_only]

Every (data set, optimizer, seed) run is ``gan_jax.train.train_and_evaluate``
on ``experiments/configs/mog_DATASET.py:OPTIMIZER`` with ``config.seed`` set,
then every ``--set KEY=VALUE`` (e.g. ``--set regularizer=none --set
g_ema_decay=0`` for the block without an explicit regularizer or weight
average), in ``OUT/runs/DATASET/OPTIMIZER/seed_S``: a rerun reuses finished
runs and resumes unfinished ones, and a workdir that holds a run with other
settings is refused (use another ``--out``). Seeds are 0 .. seeds-1
(``mog_grid.py`` says which seeds its settings were chosen on).

``OUT/runs.jsonl`` keeps one record per run, written after every run, with
a hash of the run's config (``config_sha256``): a run whose workdir is gone
(``runs/`` is not committed) is not trained again while its record matches
its config, so a table can be built over several invocations or machines.
A record with another hash is replaced when its run is trained again.
Tables with the same ``--out`` may run at once (e.g. one per optimizer);
``--recorded_only`` writes the table of what is recorded so far.

Writes ``OUT/results.md`` (mean +- standard error over seeds of the modes
captured, the fraction of high-quality samples, the reverse KL and the wall
time per run, with published numbers for context), ``OUT/runs.jsonl`` and
``OUT/results.png`` (each optimizer's seed-0 samples over its
discriminator's landscape: the run's last samples PNG, kept as
``OUT/samples/DATASET_OPTIMIZER.png``).

References:
  Lin et al. 2018, "PacGAN: The power of two samples in generative
  adversarial networks", Table 1; Srivastava et al. 2017, "VEEGAN: Reducing
  mode collapse in GANs using implicit variational learning", Table 1.
"""

from __future__ import annotations

import fcntl
import glob
import json
import math
import os
import platform
import shutil
import sys
from typing import Any, Optional, Sequence

import numpy as np

from experiments import cli
from experiments import compare
from gan_jax import mixtures
from gan_jax import reporting

DATASETS = ("ring", "grid")
CONFIG = os.path.join(os.path.dirname(__file__), "configs", "mog_{}.py")

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
  num_modes = mixtures.get(dataset).modes.shape[0]
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
    cells = [
        name, mine[0]["loss"], f"{mine[0]['steps']:,}",
        _fmt(*mean_se([r["modes"] for r in mine]), total, 1),
        _fmt(*mean_se([r["high_quality"] for r in mine]), total, 1, 100.0),
        _fmt(*mean_se([r["reverse_kl"] for r in mine]), total, 3),
        _fmt(*mean_se([r["wall_s"] for r in mine if r["finite"]]), total, 0),
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


def optimizer_names() -> list[str]:
  """The optimizers with settings in the mixture configs (``mog_grid.OPTIMIZERS``)."""
  from experiments.configs import mog_grid  # pylint: disable=g-import-not-at-top
  return list(mog_grid.OPTIMIZERS)


def run_config(dataset: str, optimizer: str, seed: int, overrides: dict[str, Any]):
  """The config of one run: the mixture config's settings for ``optimizer``, then overrides."""
  config = compare.load_config(f"{CONFIG.format(dataset)}:{optimizer}")
  compare.apply_overrides(config, {**overrides, "seed": seed, "progress_bar": False})
  return config


def config_sha256(config) -> str:
  """A hash of what decides a run's result: the keys a resume may not change, and its length."""
  from gan_jax import checkpoint, config as config_lib  # pylint: disable=g-import-not-at-top
  return checkpoint.config_sha256({**config_lib.fingerprinted(config),
                                   "num_steps": config.num_steps})


def run_record(dataset: str, optimizer: str, seed: int, config, summary: Optional[dict]) -> dict:
  """The table's record of a run; ``summary`` None for a run that diverged."""
  record = {"dataset": dataset, "optimizer": optimizer, "seed": seed, "loss": config.loss,
            "steps": config.num_steps, "config_sha256": config_sha256(config),
            "finite": summary is not None}
  if summary is None:
    return dict(record, modes=0, high_quality=0.0, reverse_kl=None, wall_s=None)
  kl = summary["reverse_kl"]
  return dict(record, modes=summary["modes"], high_quality=summary["high_quality"],
              reverse_kl=kl if kl is not None and math.isfinite(kl) else None,
              wall_s=summary["wall_s"], params_sha256=summary["params_sha256"])


def train_one(config, workdir: str) -> Optional[dict]:
  """The run's summary (training it, or resuming it, first); None when it diverged."""
  return compare.train_run(config, workdir, workdir)[0]


def write_markdown(path: str, optimizers: Sequence[str], datasets: Sequence[str],
                   runs: list[dict[str, Any]], command: str, overrides: dict[str, Any],
                   missing: Sequence[tuple[str, str, int]] = ()) -> None:
  """Writes results.md; ``missing``: the (data set, optimizer, seed) runs not run yet."""
  wall_s = sum(r["wall_s"] or 0.0 for r in runs)
  changes = ", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "none"
  parts = [
      "# 2-D Gaussian mixtures: mode coverage per optimizer",
      "",
      f"Produced by `{command}`; total wall time of the runs {wall_s / 60:.1f} min on "
      f"{os.cpu_count()} CPU cores ({platform.machine()}, JAX CPU; a run that shared them "
      "with others took longer). Mean ± standard error over seeds 0..S-1 (`mog_grid.py` says "
      "which seeds its settings were chosen on), 2,500 "
      "generated samples per run. A sample is high quality within 3 std of its nearest "
      "mode; a mode is captured with at least one high-quality sample; reverse KL is "
      "KL(mode histogram of the high-quality samples || uniform) "
      "(`gan_jax.metrics.mode_coverage.mixture_mode_stats`). Wall time per run includes "
      "compilation and evaluation. Settings per optimizer: "
      "`experiments/configs/mog_grid.py` `OPTIMIZERS` (the ring: `mog_ring.py`, the same "
      f"but for its `STEPS`); changed here: {changes}. A run whose losses became non-finite "
      "counts as diverged (0 modes, 0% high quality, reverse KL undefined); means of the "
      "reverse KL are over the runs where it is defined (n given when fewer than all).",
      "",
  ]
  for dataset in datasets:
    mixture = mixtures.get(dataset)
    parts += [f"## {dataset}: {mixture.modes.shape[0]} Gaussians, std {mixture.std}", "",
              dataset_table(dataset, optimizers, runs), ""]
  if missing:
    parts += [f"**Not run yet** ({len(missing)} of {len(runs) + len(missing)} runs): "
              + "; ".join(f"{d} {o} seed {s}" for d, o, s in missing) + ".", ""]
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
  with reporting.replaced_whole(path) as tmp, open(tmp, "w") as f:
    f.write("\n".join(parts))


def write_figure(path: str, panels: dict[tuple[str, str], str], optimizers: Sequence[str],
                 datasets: Sequence[str]) -> None:
  """Tiles the seed-0 samples PNGs: one row per data set, one column per optimizer.

  Tiles are drawn at half size: the full panels are in ``OUT/samples/``, and the
  overview stays small enough to commit with every table.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images = {key: Image.open(png).convert("RGB") for key, png in panels.items()}
  if not images:
    return
  width, height = (side // 2 for side in next(iter(images.values())).size)
  tile = Image.new("RGB", (width * len(optimizers), height * len(datasets)), "white")
  for row, dataset in enumerate(datasets):
    for col, name in enumerate(optimizers):
      if (dataset, name) in images:
        small = images[(dataset, name)].resize((width, height), Image.LANCZOS)
        tile.paste(small, (col * width, row * height))
  with reporting.replaced_whole(path) as tmp:
    tile.save(tmp, format="PNG")


def last_samples_png(workdir: str) -> Optional[str]:
  pngs = sorted(glob.glob(os.path.join(workdir, "samples", "step_*.png")))  # Zero-padded.
  return pngs[-1] if pngs else None


def _key(record: dict) -> tuple[str, str, int]:
  return record["dataset"], record["optimizer"], record["seed"]


def read_records(path: str) -> dict[tuple[str, str, int], dict]:
  """The records of ``runs.jsonl`` by (data set, optimizer, seed); {} when there is none."""
  if not os.path.exists(path):
    return {}
  records = {}
  with open(path) as f:
    for number, line in enumerate(f, 1):
      try:
        record = json.loads(line)
        records[_key(record)] = record
      except (ValueError, KeyError, TypeError):
        cli.fail(f"{path} line {number} is not a run record; fix or move the file "
                 "(nothing was run)")
  return records


def write_records(path: str, records: dict[tuple[str, str, int], dict]) -> None:
  """Replaces ``runs.jsonl`` whole, so a stopped table never leaves half a file."""
  with reporting.replaced_whole(path) as tmp, open(tmp, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records.values())


def add_record(path: str, record: dict) -> None:
  """Puts ``record`` in ``runs.jsonl`` in place of its run's old one, keeping every other.

  The file is read again under a lock on its folder, so tables that share
  an ``--out`` (e.g. one per optimizer, run at once) keep each other's records.
  """
  fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    records = read_records(path)
    records[_key(record)] = record
    write_records(path, records)
  finally:
    os.close(fd)  # Releases the lock.


def matches(record: Optional[dict], config) -> bool:
  """Whether ``record`` is of a run of ``config`` (by ``config_sha256``)."""
  return record is not None and record.get("config_sha256") == config_sha256(config)


def panel_path(out: str, dataset: str, optimizer: str) -> str:
  return os.path.join(out, "samples", f"{dataset}_{optimizer}.png")


def obtain(key: tuple[str, str, int], config, out: str, records: dict,
           recorded_only: bool) -> tuple[Optional[dict], str]:
  """The record of run ``key`` and how it was had: 'recorded', or 'ran' (trained or resumed
  now, its record added to ``OUT/runs.jsonl`` and a seed-0 panel kept); (None, 'missing')
  when ``recorded_only`` and none matches ``config``."""
  dataset, name, seed = key
  workdir = os.path.join(out, "runs", dataset, name, f"seed_{seed}")
  # A workdir holds the run's own state (finished, or to resume): it comes first.
  if matches(records.get(key), config) and (recorded_only or not os.path.exists(workdir)):
    return records[key], "recorded"
  if recorded_only:
    return None, "missing"
  record = run_record(dataset, name, seed, config, train_one(config, workdir))
  add_record(os.path.join(out, "runs.jsonl"), record)
  png = last_samples_png(workdir) if seed == 0 else None
  if png:  # Copied whole or not at all, like the records.
    with reporting.replaced_whole(panel_path(out, dataset, name)) as tmp:
      shutil.copyfile(png, tmp)
  return record, "ran"


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = cli.ArgumentParser(prog="python -m experiments.mog_table",
                              description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=5, help="seeds 0..SEEDS-1 (default 5)")
  parser.add_argument("--optimizers", nargs="+", default=None,
                      help="default: every optimizer in experiments/configs/mog_grid.py")
  parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
  parser.add_argument("--set", action="append", default=[],
                      help="KEY=VALUE applied to every run's config (repeat)")
  parser.add_argument("--out", default=os.path.join("benchmarks", "mog"))
  parser.add_argument("--recorded_only", action="store_true",
                      help="train nothing: the table of the runs OUT/runs.jsonl holds for these "
                           "settings, the others listed as missing")
  args = parser.parse_args(argv)
  optimizers = args.optimizers or optimizer_names()
  if args.seeds < 1:
    cli.fail(f"--seeds must be >= 1, got {args.seeds}")
  unknown = [name for name in optimizers if name not in optimizer_names()]
  if unknown:
    cli.fail(f"optimizer {unknown[0]!r} has no settings in experiments/configs/mog_grid.py; "
             "known: " + ", ".join(optimizer_names()))
  overrides = compare.parse_assignments(args.set)
  from gan_jax import config as config_lib, determinism  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  wanted = [(d, o, s) for d in args.datasets for o in optimizers for s in range(args.seeds)]
  configs = {}
  for dataset, name, seed in wanted:  # Every config is checked before any run starts.
    configs[(dataset, name, seed)] = config = run_config(dataset, name, seed, overrides)
    try:
      config_lib.validate(config)
    except UserError as e:
      cli.fail(f"{dataset} {name}: {e}")
    if not config.eval_every:
      cli.fail("--set eval_every=0 is not allowed: the table reads each run's final evaluation "
               "(modes, high quality, reverse KL); eval_every must be > 0")

  records = read_records(os.path.join(args.out, "runs.jsonl"))
  os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
  runs, panels, missing = [], {}, []
  for index, key in enumerate(wanted):
    dataset, name, seed = key
    record, how = obtain(key, configs[key], args.out, records, args.recorded_only)
    if record is None:
      missing.append(key)
      continue
    runs.append(record)
    panel = panel_path(args.out, dataset, name)
    if seed == 0 and os.path.exists(panel):
      panels[(dataset, name)] = panel
    print(f"[{index + 1}/{len(wanted)}] {dataset} {name} seed {seed} ({how}): "
          f"{record['modes']} modes, HQ {record['high_quality']:.3f}, "
          f"KL {record['reverse_kl']}, {record['wall_s'] or 0:.0f} s", flush=True)
  command = " ".join(["python -m experiments.mog_table"]
                     + list(argv if argv is not None else sys.argv[1:]))
  write_markdown(os.path.join(args.out, "results.md"), optimizers, args.datasets, runs,
                 command.strip(), overrides, missing)
  write_figure(os.path.join(args.out, "results.png"), panels, optimizers, args.datasets)
  print(f"wrote {os.path.join(args.out, 'results.md')}, runs.jsonl and results.png", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
