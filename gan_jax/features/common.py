"""Helpers shared by the feature extractors."""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np


def batched_apply(fn: Callable, images: np.ndarray, batch_size: int) -> list[np.ndarray]:
  """``fn`` over ``images`` in fixed-size batches, each output concatenated over batches.

  Every call sees the same batch shape (the last batch is padded by repeating
  its last image, and the padding is dropped), so ``fn`` compiles once.

  Args:
    fn: maps a batch [B, ...] to a tuple of arrays whose first axis is B.
    images: the inputs [N, ...], N >= 1.
    batch_size: B (clipped to N).

  Returns:
    One array [N, ...] per output of ``fn``.
  """
  n = len(images)
  batch = max(1, min(batch_size, n))
  outputs = []
  for start in range(0, n, batch):
    chunk = images[start:start + batch]
    valid = len(chunk)
    if valid < batch:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - valid, axis=0)])
    outputs.append([np.asarray(o)[:valid] for o in jax.device_get(fn(chunk))])
  return [np.concatenate(parts) for parts in zip(*outputs)]
