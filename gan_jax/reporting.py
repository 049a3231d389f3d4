"""What a run writes for people: metrics.jsonl, TensorBoard, sample grids, plots."""

from __future__ import annotations

import json
import math
import os
from typing import Iterable, Optional

import numpy as np

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


def save_png(path: str, grid: np.ndarray) -> None:
  from PIL import Image  # Pillow comes with matplotlib.
  mode_image = grid[..., 0] if grid.shape[-1] == 1 else grid
  tmp = path + ".tmp"
  Image.fromarray(mode_image).save(tmp, format="PNG")
  os.replace(tmp, path)


class MetricsLog:
  """Appends one JSON object per line to ``metrics.jsonl`` and mirrors it to TensorBoard.

  On resume, lines from steps after the restored checkpoint (written by a run
  that was then killed) are dropped, so the file reads as one clean run.
  """

  def __init__(self, workdir: str, resume_step: int, enabled: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
    with open(self.path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(self.path + ".tmp", self.path)
    from tensorboardX import SummaryWriter  # Writes event files without TensorFlow.
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=resume_step + 1)

  def write(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    for key, value in record.items():
      if key != "step":
        self._tb.add_scalar(key, value, step)

  def image(self, tag: str, step: int, grid: np.ndarray) -> None:
    if self.enabled:
      self._tb.add_image(tag, grid, step, dataformats="HWC")

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        break  # A line cut short by a killed run; nothing after it is complete.
  return records


def plot_curves(records: Iterable[dict], keys: Iterable[str], path: str) -> None:
  """Plots the given metrics against step into a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  records = list(records)
  fig, ax = plt.subplots(figsize=(7, 4))
  for key in keys:
    points = [(r["step"], r[key]) for r in records if key in r]
    if points:
      ax.plot(*zip(*points), label=key)
  ax.set_xlabel("step")
  ax.set_ylabel("loss")
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path + ".tmp.png", dpi=100)
  plt.close(fig)
  os.replace(path + ".tmp.png", path)
