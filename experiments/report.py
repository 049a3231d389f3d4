"""Tabulates and plots runs: ``python -m experiments.report RUN_DIR [RUN_DIR ...] --out DIR``.

Writes ``DIR/report.md``, a markdown table with one row per run (its final
metrics: from ``eval.json`` when ``experiments.evaluate`` has written one,
else the last ``eval/`` values in ``summary.json``), and ``DIR/metrics.png``,
each metric against the training step (from ``metrics.jsonl``), one line per
run. The table is printed too. FIDs are comparable only between runs whose
feature extractors have the same hash; the report says when they differ.

A run directory without summary.json, eval.json or metrics.jsonl is a
one-line ``error: ...`` and exit status 2; nothing is written then.
"""

import json
import math
import os
from typing import Optional

from absl import app, flags

from experiments import cli

_OUT = flags.DEFINE_string("out", None, "Directory for report.md and metrics.png.", required=True)
_METRICS = flags.DEFINE_list(
    "metrics", "fid,kid,precision,recall,density,coverage,classifier_score,class_kl,pixel_fd",
    "Metrics (gan_jax.evaluation names) for the table and the plot, in order.")

# Table columns from config.json and the evaluation's facts, before the metrics.
_CONFIG_COLUMNS = ("model", "loss", "dataset", "seed")
# Every metric name gan_jax.evaluation and experiments.evaluate write.
KNOWN_METRICS = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
                 "classifier_score", "classifier_score_std", "class_kl", "label_accuracy",
                 "pixel_fd", "d_real", "d_fake", "modes", "high_quality", "reverse_kl", "kl",
                 "parzen_ll", "parzen_ll_se", "parzen_sigma")


def check_metric_names(names: list[str], runs: list[dict]) -> None:
  """Refuses a --metrics name that is neither a gan_jax.evaluation metric nor in any run."""
  from gan_jax.errors import did_you_mean  # pylint: disable=g-import-not-at-top
  in_runs = {m for r in runs for m in r["metrics"]}
  in_runs |= {k[len("eval/"):] for r in runs for rec in r["history"] for k in rec
              if k.startswith("eval/")}
  known = sorted(set(KNOWN_METRICS) | in_runs)
  for name in names:
    if name not in known:
      cli.fail(f"--metrics: unknown metric {name!r}{did_you_mean(name, known)}; known: "
               f"{', '.join(known)}")



def _read_json(path: str) -> Optional[dict]:
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    cli.fail(f"{path} is unreadable ({e})")
  if not isinstance(value, dict):
    cli.fail(f"{path} does not hold a JSON object")
  return value


def load_run(run_dir: str) -> dict:
  """A run's final metrics, facts and eval history, from its workdir files."""
  from gan_jax import reporting

  if not os.path.isdir(run_dir):
    cli.fail(f"run directory {run_dir!r} does not exist or is not a directory")
  summary = _read_json(os.path.join(run_dir, "summary.json"))
  evaluated = _read_json(os.path.join(run_dir, "eval.json"))
  config = _read_json(os.path.join(run_dir, "config.json")) or {}
  history = reporting.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
  if summary is None and evaluated is None and not history:
    cli.fail(f"run directory {run_dir!r} has no summary.json, eval.json or metrics.jsonl; "
          "is it a training workdir?")
  run = {"dir": run_dir, "config": config, "history": history,
         "wall_s": (summary or {}).get("wall_s")}
  if evaluated is not None:
    run["source"] = "eval.json"
    run["step"] = evaluated.get("step")
    run["metrics"] = {k: v.get("value") for k, v in evaluated.get("metrics", {}).items()}
    run["features"] = evaluated.get("features")
    run["features_hash"] = evaluated.get("features_hash")
    run["accuracy"] = evaluated.get("classifier_test_accuracy")
    run["num_fake"] = evaluated.get("num_fake")
  else:
    summary = summary or {}
    if not summary:  # Only a metrics.jsonl: a run still going, or killed.
      evals = [r for r in history if any(k.startswith("eval/") for k in r)]
      summary = {"step": history[-1]["step"], **(evals[-1] if evals else {})}
      run["source"] = "metrics.jsonl"
    else:
      run["source"] = "summary.json"
    info = summary.get("eval_info", {})
    run["step"] = summary.get("step")
    run["metrics"] = {k[len("eval/"):]: v for k, v in summary.items() if k.startswith("eval/")}
    run["features"] = info.get("features")
    run["features_hash"] = info.get("features_hash")
    run["accuracy"] = info.get("classifier_test_accuracy")
    run["num_fake"] = info.get("num_fake")
  return run


def _fmt(value) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    return "nan" if math.isnan(value) else f"{value:.4g}"
  return str(value)


def _names(runs: list[dict]) -> list[str]:
  """Each run's directory name, or its path where two names collide."""
  base = [os.path.basename(os.path.normpath(r["dir"])) for r in runs]
  return [b if base.count(b) == 1 else os.path.normpath(r["dir"]) for b, r in zip(base, runs)]


def markdown_table(runs: list[dict], metric_names: list[str]) -> str:
  """The runs' final metrics as a markdown table, with a note on incomparable features."""
  shown = [m for m in metric_names if any(m in r["metrics"] for r in runs)]
  header = (["run", *_CONFIG_COLUMNS, "step", "features", "clf acc", "samples", *shown,
             "train wall s", "from"])
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for name, run in zip(_names(runs), runs):
    cells = [name, *(_fmt(run["config"].get(c)) for c in _CONFIG_COLUMNS), _fmt(run["step"]),
             _fmt(run["features"]), _fmt(run["accuracy"]), _fmt(run["num_fake"]),
             *(_fmt(run["metrics"].get(m)) for m in shown),
             "-" if run["wall_s"] is None else f"{run['wall_s']:.0f}", run["source"]]
    lines.append("| " + " | ".join(cells) + " |")
  hashes = {(r["features"], r["features_hash"]) for r in runs if r["features_hash"]}
  if len(hashes) > 1:
    lines.append("")
    lines.append("Note: the runs used different feature extractors "
                 f"({', '.join(sorted(f'{n} {h[:12]}' for n, h in hashes))}); their FID, KID and "
                 "precision/recall are not comparable.")
  return "\n".join(lines) + "\n"


def plot(runs: list[dict], metric_names: list[str], path: str) -> list[str]:
  """Each metric against the step, one line per run; returns the metrics plotted."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.lines  # pylint: disable=unused-import
  import matplotlib.ticker  # pylint: disable=unused-import
  import matplotlib.pyplot as plt
  from gan_jax import reporting

  shown = [m for m in metric_names
           if any(f"eval/{m}" in rec for r in runs for rec in r["history"])]
  cols = min(3, max(1, len(shown)))
  rows = max(1, math.ceil(len(shown) / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows + 0.35), squeeze=False)
  for ax in axes.flat[len(shown):]:
    ax.axis("off")
  if not shown:
    axes[0][0].text(0.5, 0.5, "no eval/ metrics in metrics.jsonl", ha="center", va="center")
  names = _names(runs)
  for ax, metric in zip(axes.flat, shown):
    for i, run in enumerate(runs):  # One colour per run in every panel.
      points = [(rec["step"], rec[f"eval/{metric}"]) for rec in run["history"]
                if f"eval/{metric}" in rec]
      if points:
        ax.plot(*zip(*points), marker="o", markersize=3, color=f"C{i % 10}")
    ax.set_title(metric)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5, integer=True))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"))
    ax.grid(alpha=0.3)
  handles = [matplotlib.lines.Line2D([], [], color=f"C{i % 10}", marker="o", markersize=3)
             for i in range(len(runs))]
  fig.legend(handles, names, loc="upper center", ncol=min(4, len(runs)), fontsize="small",
             frameon=False)
  fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (3.2 * rows + 0.35)))
  with reporting.replaced_whole(path) as tmp:
    fig.savefig(tmp, dpi=100)
  plt.close(fig)
  return shown


def main(argv):
  run_dirs = argv[1:]
  if not run_dirs:
    cli.fail("give at least one run directory: python -m experiments.report RUN_DIR ... --out DIR")
  runs = [load_run(d) for d in run_dirs]  # All checked before anything is written.
  for run in runs:  # Each run's config.imports, as train and evaluate import them.
    cli.import_modules(run["config"].get("imports", ""))
  check_metric_names(_METRICS.value, runs)
  out = _OUT.value
  if os.path.exists(out) and not os.path.isdir(out):
    cli.fail(f"--out {out!r} exists and is not a directory")
  os.makedirs(out, exist_ok=True)
  table = markdown_table(runs, _METRICS.value)
  with open(os.path.join(out, "report.md"), "w") as f:
    f.write(table)
  plot(runs, _METRICS.value, os.path.join(out, "metrics.png"))
  print(table, end="")
  print(f"wrote {os.path.join(out, 'report.md')} and {os.path.join(out, 'metrics.png')}")



if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
