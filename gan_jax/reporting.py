"""What a run writes for people: metrics.jsonl, TensorBoard, sample grids, plots."""

from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Iterable, Iterator, Optional

import numpy as np
from absl import logging

from gan_jax.data import to_uint8


def image_grid(images: np.ndarray, rows: Optional[int] = None, pad: int = 1) -> np.ndarray:
  """Tiles float images [N, H, W, C] in [-1, 1] into one uint8 [h, w, C] grid."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  rows = rows or int(math.ceil(math.sqrt(n)))
  cols = int(math.ceil(n / rows))
  grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
  for i in range(n):
    r, col = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = images[i]
  return grid


@contextlib.contextmanager
def replaced_whole(path: str) -> Iterator[str]:
  """Yields a temporary path to write; renames it onto ``path`` if the block succeeds.

  A reader never sees half a file: ``path`` holds either its old content or
  the new one, even when the writer is stopped midway. The temporary file
  is hidden and keeps the extension (``.tmp-NAME``), so writers that infer
  the format from it (matplotlib, ``np.savez``) work, and globs such as
  ``step_*.png`` never match it.
  """
  folder, name = os.path.split(path)
  tmp = os.path.join(folder, ".tmp-" + name)
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def save_png(path: str, grid: np.ndarray) -> None:
  from PIL import Image  # Pillow comes with matplotlib.
  mode_image = grid[..., 0] if grid.shape[-1] == 1 else grid
  with replaced_whole(path) as tmp:
    Image.fromarray(mode_image).save(tmp, format="PNG")


def _agg_figure(size: tuple[float, float], dpi: int):
  """A matplotlib figure on its own Agg canvas: no pyplot, so a notebook's backend is kept."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=size, dpi=dpi)
  FigureCanvasAgg(fig)
  return fig


def mixture_figure(points: np.ndarray, modes: np.ndarray, d_prob: Optional[np.ndarray],
                   lim: float, title: str) -> np.ndarray:
  """A 2-D run's samples over the discriminator's landscape, as uint8 RGB [h, w, 3].

  Args:
    points: generated points [N, 2].
    modes: the mixture's means [K, 2] (yellow crosses).
    d_prob: sigmoid(D) on a square grid over [-lim, lim]^2, [R, R] with rows
      along y (red: D says real), or None (no landscape).
    lim: half-width of the square shown.
    title: the figure's title.
  """
  fig = _agg_figure((4.6, 4), 80)
  ax = fig.add_subplot()
  if d_prob is not None:
    image = ax.imshow(d_prob, origin="lower", extent=(-lim, lim, -lim, lim), cmap="RdBu_r",
                      vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="D(x)")
  ax.scatter(points[:, 0], points[:, 1], s=1, c="k", alpha=0.5)
  ax.scatter(modes[:, 0], modes[:, 1], s=20, c="yellow", marker="x")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_title(title, fontsize=8)
  fig.tight_layout()
  fig.canvas.draw()
  return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


class MetricsLog:
  """Appends one JSON object per line to ``metrics.jsonl`` and mirrors it to TensorBoard.

  Each record is one write of one whole line, flushed at once, so a run
  killed at any moment leaves at most a partial last line. On resume the
  file is rewritten with its valid records up to the restored checkpoint's
  step: records from later steps (written by a run that then stopped) and
  unreadable lines are dropped, each with one warning.
  """

  def __init__(self, workdir: str, resume_step: int, enabled: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.enabled = enabled
    self._tb = None
    self._file = None
    if not enabled:
      return
    records, bad = read_jsonl_lines(self.path)
    if bad:
      logging.warning("%s: line%s %s %s not a JSON record (cut short or corrupted) and "
                      "dropped; the other %d records are kept", self.path,
                      "s" if len(bad) > 1 else "", ", ".join(map(str, bad)),
                      "are" if len(bad) > 1 else "is", len(records))
    kept = [r for r in records if r["step"] <= resume_step]
    if len(kept) < len(records):
      logging.warning("%s: dropped %d records of steps after %d, the checkpoint this run "
                      "resumes from (written by a run that stopped after it)", self.path,
                      len(records) - len(kept), resume_step)
    if bad or len(kept) < len(records) or not os.path.exists(self.path):
      with replaced_whole(self.path) as tmp, open(tmp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    self._file = open(self.path, "a")
    from tensorboardX import SummaryWriter  # Writes event files without TensorFlow.
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=resume_step + 1)

  def write(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    for key, value in record.items():
      if key != "step":
        self._tb.add_scalar(key, value, step)

  def image(self, tag: str, step: int, grid: np.ndarray) -> None:
    if self.enabled:
      self._tb.add_image(tag, grid, step, dataformats="HWC")

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
    if self._tb is not None:
      self._tb.close()


def read_jsonl_lines(path: str) -> tuple[list[dict], list[int]]:
  """The records of a metrics.jsonl (objects with an integer "step") and the bad line numbers."""
  if not os.path.exists(path):
    return [], []
  records, bad = [], []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        bad.append(number)
        continue
      if not (isinstance(record, dict) and isinstance(record.get("step"), int)):
        bad.append(number)
        continue
      records.append(record)
  return records, bad


def read_jsonl(path: str) -> list[dict]:
  """The valid records of a metrics.jsonl; unreadable lines are skipped."""
  return read_jsonl_lines(path)[0]


def plot_curves(records: Iterable[dict], keys: Iterable[str], path: str) -> None:
  """Plots the given metrics against step into a PNG."""
  records = list(records)
  fig = _agg_figure((7, 4), 100)
  ax = fig.add_subplot()
  for key in keys:
    points = [(r["step"], r[key]) for r in records if key in r]
    if points:
      ax.plot(*zip(*points), label=key)
  ax.set_xlabel("step")
  ax.set_ylabel("loss")
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  with replaced_whole(path) as tmp:
    fig.savefig(tmp)
