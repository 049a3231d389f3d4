"""Trains configs over seeds and compares their FID over steps and over seconds.

    python -m experiments.compare --out DIR --seeds 0,1,2 \\
        --run adam=experiments/configs/default.py \\
        --run "acgd=experiments/configs/acgd.py game_hparams.lr=2e-3" \\
        --set num_steps=10000 --set eval_every=1000

Each ``--run NAME=CONFIG_FILE[:ARG] [KEY=VALUE ...]`` names a config file (its
``get_config(ARG)``) with overrides; every ``--set KEY=VALUE`` applies to all
runs after their own overrides. Values are Python literals. Every run trains
through ``gan_jax.train.train_and_evaluate`` into ``DIR/NAME/seed_S``, so a
rerun resumes unfinished runs and reuses finished ones.

Writes ``DIR/compare.md`` (per run: FID mean and standard deviation over the
seeds at every evaluation step, the best and the last, training steps/s) and
``DIR/fid_vs_steps.png`` and ``DIR/fid_vs_seconds.png`` (mean over seeds, the
band one standard deviation). Seconds are training seconds: the step divided
by the run's median steps/s over its log windows, so that evaluation time
(in a few windows) does not count, or by ``--rate NAME=STEPS_PER_SEC`` (e.g.
``experiments.benchmark``'s fused rate on a quiet machine, when the runs
shared the cores with other work).
"""

from __future__ import annotations

import ast
import json
import os
import sys
import warnings
from typing import Any, Optional

import numpy as np

from experiments import cli


def _literal(text: str) -> Any:
  """A Python literal, true/false as on the command line (``--config.KEY=false``), else the text."""
  if text.lower() in ("true", "false"):
    return text.lower() == "true"
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # A bare string such as non_saturating.


def parse_assignments(items: list[str]) -> dict[str, Any]:
  """``['a.b=1', 'c=x']`` -> ``{'a.b': 1, 'c': 'x'}``; one-line error on a bad item."""
  out = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep or not key:
      cli.fail(f"override {item!r} is not KEY=VALUE")
    out[key] = _literal(value)
  return out


def load_config(spec: str):
  """``PATH[:ARG]`` -> the ConfigDict of that file's ``get_config([ARG])``; one-line errors."""
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  try:
    return cli.load_config_file(spec)
  except UserError as e:
    cli.fail(str(e))


def apply_overrides(config, overrides: dict[str, Any]) -> None:
  """Sets dotted keys; a top-level key must exist (nested dicts such as game_hparams grow)."""
  for key, value in overrides.items():
    *parents, leaf = key.split(".")
    if not parents and leaf not in config:
      cli.fail(f"unknown config key {key!r}")
    node = config
    try:
      for part in parents:
        node = node[part]
      with node.unlocked():
        node[leaf] = value
    except (KeyError, TypeError, AttributeError) as e:  # A wrong type, or no such node.
      cli.fail(f"override {key}={value!r} does not fit the config: {str(e).splitlines()[0]}")


def train_run(config, workdir: str, label: str) -> tuple[Optional[dict], Optional[int]]:
  """Trains (or resumes) one run of a table command: (its summary, None), or (None, the step).

  A bad config ends the command with ``error: LABEL: ...``, a signal with one
  ``interrupted: ...`` line (rerunning the command resumes the run); a run
  whose losses became non-finite is printed and returned as diverged at its
  step, not fatal to the table.
  """
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import (  # pylint: disable=g-import-not-at-top
      Interrupted, NonFiniteError, UserError)
  try:
    return train.train_and_evaluate(config, workdir), None
  except UserError as e:
    cli.fail(f"{label}: {e}")
  except Interrupted as e:
    cli.stop_interrupted(e)
  except NonFiniteError as e:
    print(f"{label}: {e}", flush=True)
    return None, e.step


def parse_run(text: str) -> tuple[str, str, dict[str, Any]]:
  """``'NAME=CONFIG [KEY=VALUE ...]'`` -> (name, config spec, overrides)."""
  head, *rest = text.split()
  name, sep, spec = head.partition("=")
  if not sep or not name or not spec:
    cli.fail(f"--run {text!r} is not NAME=CONFIG_FILE[:ARG] [KEY=VALUE ...]")
  return name, spec, parse_assignments(rest)


def read_history(workdir: str) -> dict:
  """One run's metrics.jsonl (``gan_jax.reporting.read_jsonl``: unreadable lines skipped).

  Returns:
    ``{"fid": {step: FID}, "steps_per_sec": median over the log windows,
    "last_step": the step of the last record (0 for none)}``.
  """
  from gan_jax import reporting  # pylint: disable=g-import-not-at-top
  records = reporting.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  rates = [float(r["steps_per_sec"]) for r in records if "steps_per_sec" in r]
  return {"fid": {r["step"]: float(r["eval/fid"]) for r in records if "eval/fid" in r},
          "steps_per_sec": float(np.median(rates)) if rates else float("nan"),
          "last_step": records[-1]["step"] if records else 0}


def summarize(histories: dict[str, list[dict]]) -> dict:
  """Per run: eval steps, FID mean/std over the seeds that reached each step, steps/s.

  A seed that stopped on a non-finite loss (``history["diverged_at"]``; with
  ``--report_only``, any run without summary.json, at its last record) has
  no FID after that step: its later columns average the other seeds, and
  ``diverged`` lists it.
  """
  table = {}
  for name, runs in histories.items():
    steps = sorted({s for r in runs for s in r["fid"]})
    fids = np.array([[r["fid"].get(s, np.nan) for s in steps] for r in runs]).reshape(
        len(runs), len(steps))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns; no seed's rate
      mean, std = np.nanmean(fids, 0), np.nanstd(fids, 0)
      steps_per_sec = float(np.nanmean([r["steps_per_sec"] for r in runs]))
    table[name] = {"steps": steps, "fid_mean": mean.tolist(), "fid_std": std.tolist(),
                   "fid_last": [r["fid"][max(r["fid"])] if r["fid"] else None for r in runs],
                   "diverged": [r.get("diverged_at") for r in runs],
                   "steps_per_sec": steps_per_sec}
  return table


def markdown(table: dict, seeds: list[int]) -> str:
  """The comparison as a markdown table: one row per run, one column per eval step."""
  steps = sorted({s for row in table.values() for s in row["steps"]})
  lines = [f"FID (mean ± std over seeds {', '.join(map(str, seeds))}) at each step",
           "",
           "| run | " + " | ".join(f"{s:,}" for s in steps) + " | best | diverged | steps/s |",
           "|---|" + "---|" * (len(steps) + 3)]
  for name, row in table.items():
    by_step = dict(zip(row["steps"], zip(row["fid_mean"], row["fid_std"])))
    cells = [f"{by_step[s][0]:.1f} ± {by_step[s][1]:.1f}" if s in by_step else "–" for s in steps]
    diverged = [d for d in row["diverged"] if d is not None]
    best = f"{np.nanmin(row['fid_mean']):.1f}" if row["steps"] else "–"
    lines.append(f"| {name} | " + " | ".join(cells) + f" | {best} | "
                 + (", ".join(f"step {d}" for d in diverged) or "0") + " | "
                 + f"{row['steps_per_sec']:.0f} |")
  return "\n".join(lines) + "\n"


def plot(table: dict, out: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from gan_jax import reporting  # pylint: disable=g-import-not-at-top
  for axis in ("steps", "seconds"):
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, row in table.items():
      x = np.array(row["steps"], float)
      if axis == "seconds":
        x = x / row["steps_per_sec"]
      mean, std = np.array(row["fid_mean"]), np.array(row["fid_std"])
      ax.plot(x, mean, marker="o", ms=3, label=name)
      ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("generator steps" if axis == "steps" else "training seconds")
    ax.set_ylabel("FID")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with reporting.replaced_whole(os.path.join(out, f"fid_vs_{axis}.png")) as tmp:
      fig.savefig(tmp, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> None:
  parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="Directory of the runs and the report.")
  parser.add_argument("--seeds", default="0", help="Comma-separated seeds.")
  parser.add_argument("--run", action="append", required=True,
                      help="NAME=CONFIG_FILE[:ARG] [KEY=VALUE ...]; repeat for each run.")
  parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run.")
  parser.add_argument("--report_only", action="store_true",
                      help="Train nothing: tabulate and plot the runs already in --out.")
  parser.add_argument("--rate", action="append", default=[],
                      help="NAME=STEPS_PER_SEC: the seconds axis's rate for run NAME (e.g. "
                           "from experiments.benchmark on a quiet machine) instead of the "
                           "run's own median.")
  args = parser.parse_args(argv)
  try:
    seeds = [int(s) for s in args.seeds.split(",")]
  except ValueError:
    cli.fail(f"--seeds {args.seeds!r} is not a comma-separated list of integers")
  common = parse_assignments(args.set)
  runs = [parse_run(text) for text in args.run]
  rates = parse_assignments(args.rate)
  for name, rate in rates.items():
    if name not in {r[0] for r in runs} or isinstance(rate, bool) or not isinstance(
        rate, (int, float)) or not rate > 0:
      cli.fail(f"--rate {name}={rate!r}: NAME must be a --run name and the rate a number > 0")

  from gan_jax import determinism  # pylint: disable=g-import-not-at-top
  determinism.request_deterministic_gpu_ops()

  histories = {}
  for name, spec, overrides in runs:
    histories[name] = []
    for seed in seeds:
      config = load_config(spec)
      apply_overrides(config, {**overrides, **common, "seed": seed})
      workdir = os.path.join(args.out, name, f"seed_{seed}")
      print(f"{name} seed {seed}: {workdir}", flush=True)
      if args.report_only:
        if not os.path.isfile(os.path.join(workdir, "metrics.jsonl")):
          cli.fail(f"--report_only: {workdir} has no metrics.jsonl; run without it first")
        history = read_history(workdir)
        # A run without summary.json stopped early, at its last record.
        finished = os.path.isfile(os.path.join(workdir, "summary.json"))
        histories[name].append(dict(history, diverged_at=None if finished else history["last_step"]))
        continue
      _, diverged_at = train_run(config, workdir, f"run {name!r} seed {seed}")
      histories[name].append(dict(read_history(workdir), diverged_at=diverged_at))
  table = summarize(histories)
  for name, rate in rates.items():
    table[name]["steps_per_sec"] = float(rate)
  from gan_jax import reporting  # pylint: disable=g-import-not-at-top
  with reporting.replaced_whole(os.path.join(args.out, "compare.json")) as tmp, open(tmp, "w") as f:
    json.dump(table, f, indent=2)
  text = markdown(table, seeds)
  with reporting.replaced_whole(os.path.join(args.out, "compare.md")) as tmp, open(tmp, "w") as f:
    f.write(text)
  plot(table, args.out)
  print(text)


if __name__ == "__main__":
  main(sys.argv[1:])
