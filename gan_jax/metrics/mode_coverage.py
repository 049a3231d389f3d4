"""Mode-collapse metrics for mixtures with known modes.

Two settings from the mode-collapse literature:

* 2-D Gaussian mixtures (a ring of 8 modes, a 5 x 5 grid of 25 modes). Each
  generated sample is assigned to its nearest mode; it is "high quality" if it
  lies within 3 standard deviations of that mode. A mode is captured if at
  least one high-quality sample is assigned to it. (Srivastava et al. 2017,
  VEEGAN, and Lin et al. 2018, PacGAN, synthetic-data experiments.)
* Labelled data such as Stacked MNIST, whose 1000 modes are the 3-digit
  combinations read off by a pretrained classifier (Metz et al. 2017,
  Unrolled GANs; Srivastava et al. 2017; Lin et al. 2018, Stacked MNIST
  experiments).

Both report the reverse KL divergence KL(p_model || uniform) from the
histogram of samples over the modes to the uniform target over all modes:

    KL = sum_i p_i log(p_i K) = log K - H(p).

Empty modes have p_i = 0 and contribute 0 (the convention 0 log 0 = 0; Cover
& Thomas 2006, section 2.3), so no smoothing is needed and the value is always
finite: 0 when samples are spread evenly over all K modes, and log(K / c) when
they are spread evenly over only c of them (log K for total collapse onto one
mode). Missing modes are not excluded from the target: they are what raises
the KL. This is the direction reported in PacGAN's and VEEGAN's tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from gan_jax.metrics import _checks

# A sample is high quality if within this many standard deviations of a mode.
HIGH_QUALITY_STDS = 3.0


def ring_modes(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
  """Means of a ring mixture: ``num_modes`` points evenly spaced on a circle.

  Args:
    num_modes: number of modes (>= 1).
    radius: radius of the circle.

  Returns:
    float64 array [num_modes, 2]; mode i is at angle 2 pi i / num_modes.

  References:
    Metz et al. 2017, "Unrolled Generative Adversarial Networks" (8-mode
    ring); Srivastava et al. 2017, synthetic-data experiments.
  """
  num_modes = _checks.check_positive_int(num_modes, "num_modes")
  angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> np.ndarray:
  """Means of a grid mixture: side x side points centred on the origin.

  With the defaults these are the 25 points {-4, -2, 0, 2, 4}^2.

  Args:
    side: points per axis (>= 1).
    spacing: distance between neighbouring points.

  Returns:
    float64 array [side * side, 2], in row-major order over (x, y).

  References:
    Srivastava et al. 2017 and Lin et al. 2018, 2-D grid experiments.
  """
  side = _checks.check_positive_int(side, "side")
  coords = (np.arange(side) - (side - 1) / 2.0) * spacing
  xs, ys = np.meshgrid(coords, coords, indexing="ij")
  return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _kl_from_uniform(counts: np.ndarray) -> float:
  """KL(counts / sum || uniform over len(counts)), with 0 log 0 = 0."""
  p = counts / np.sum(counts)
  return float(np.sum(special.xlogy(p, p * counts.shape[0])))


def mixture_mode_stats(samples: Any, modes: Any, std: float) -> dict[str, float]:
  """Modes captured, fraction of high-quality samples, and reverse KL.

  Args:
    samples: generated points [N, D] (D = 2 for the usual mixtures), N >= 1.
    modes: mixture means [K, D], e.g. from ``ring_modes`` or ``grid_modes``.
    std: the mixture components' standard deviation (> 0); a sample is high
      quality if within 3 * std (Euclidean distance) of its nearest mode.

  Returns:
    A dict with
      * ``modes``: int, number of modes with at least one high-quality sample
        assigned to them (nearest-mode assignment);
      * ``high_quality``: float, fraction of all samples that are high quality;
      * ``reverse_kl``: float, KL(p || uniform over all K modes) where p is the
        histogram of high-quality samples over the modes (see the module
        docstring for empty modes); NaN when no sample is high quality, as p
        is then undefined.

  Raises:
    ValueError: if ``samples`` or ``modes`` is not 2-D or not finite, their
      dimensions differ, or ``std`` is not a positive finite number.

  References:
    Srivastava et al. 2017, "VEEGAN: Reducing Mode Collapse in GANs using
    Implicit Variational Learning", synthetic-data experiments; Lin et al.
    2018, "PacGAN: The power of two samples in generative adversarial
    networks", 2-D mixture experiments.
  """
  x = _checks.as_matrix(samples, "samples", min_rows=1)
  centres = _checks.as_matrix(modes, "modes", min_rows=1)
  _checks.check_same_dim(x, centres, "samples", "modes")
  std = float(std)
  if not (np.isfinite(std) and std > 0.0):
    raise ValueError(f"std must be a positive finite number, got {std}")
  num_modes = centres.shape[0]
  counts = np.zeros(num_modes, dtype=np.int64)
  num_hq = 0
  threshold = (HIGH_QUALITY_STDS * std) ** 2
  for rows in _checks.row_batches(x.shape[0], 4096):
    d2 = _checks.squared_distances(x[rows], centres)
    nearest = np.argmin(d2, axis=1)
    hq = d2[np.arange(nearest.shape[0]), nearest] <= threshold
    num_hq += int(np.count_nonzero(hq))
    counts += np.bincount(nearest[hq], minlength=num_modes)
  reverse_kl = _kl_from_uniform(counts.astype(np.float64)) if num_hq > 0 else float("nan")
  return {
      "modes": int(np.count_nonzero(counts)),
      "high_quality": num_hq / x.shape[0],
      "reverse_kl": reverse_kl,
  }


def class_histogram_kl(labels: Any, num_classes: int) -> float:
  """KL(label histogram || uniform over num_classes), e.g. for predicted labels.

  Args:
    labels: integer class labels [N] in [0, num_classes), N >= 1 (for
      example a pretrained classifier's predictions on generated samples).
    num_classes: number of classes K (>= 1).

  Returns:
    sum_i p_i log(p_i K) as a Python float: 0 for a uniform histogram, log K
    when every label is the same. Classes with no label contribute 0.

  Raises:
    ValueError: if ``labels`` is not a non-empty 1-D integer array with values
      in [0, num_classes).

  References:
    Srivastava et al. 2017 and Lin et al. 2018, Stacked MNIST experiments
    (KL of the predicted-mode histogram to the uniform target).
  """
  num_classes = _checks.check_positive_int(num_classes, "num_classes")
  y = np.asarray(labels)
  if y.ndim != 1 or y.shape[0] < 1:
    raise ValueError(f"labels must be a non-empty 1-D array [N], got shape {y.shape}")
  if not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"labels must be integers, got dtype {y.dtype}")
  if np.any(y < 0) or np.any(y >= num_classes):
    raise ValueError(
        f"labels must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
  counts = np.bincount(y, minlength=num_classes).astype(np.float64)
  return _kl_from_uniform(counts)


def stacked_mnist_modes(pred_digits: Any) -> dict[str, float]:
  """Modes and reverse KL on Stacked MNIST from per-channel digit predictions.

  Each Stacked MNIST sample stacks three MNIST digits as colour channels; its
  mode is the 3-digit number 100 d_0 + 10 d_1 + d_2, giving 1000 modes.

  Args:
    pred_digits: integer array [N, 3] of predicted digits (0..9) for the three
      channels of each generated sample, N >= 1.

  Returns:
    ``{"modes": int, "kl": float}``: the number of distinct 3-digit modes that
    at least one sample falls in, and KL(mode histogram || uniform over 1000).

  Raises:
    ValueError: if ``pred_digits`` is not an integer array [N, 3] with values
      in 0..9.

  References:
    Metz et al. 2017, "Unrolled Generative Adversarial Networks"; Srivastava
    et al. 2017 and Lin et al. 2018, Stacked MNIST experiments.
  """
  digits = np.asarray(pred_digits)
  if digits.ndim != 2 or digits.shape[1] != 3 or digits.shape[0] < 1:
    raise ValueError(
        f"pred_digits must be an array [N, 3] with N >= 1, got shape {digits.shape}")
  if not np.issubdtype(digits.dtype, np.integer):
    raise ValueError(f"pred_digits must be integers, got dtype {digits.dtype}")
  if np.any(digits < 0) or np.any(digits > 9):
    raise ValueError(
        f"pred_digits must lie in 0..9, got values in [{digits.min()}, {digits.max()}]")
  digits = digits.astype(np.int64)  # uint8 predictions would overflow below.
  mode_ids = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
  return {
      "modes": int(np.unique(mode_ids).shape[0]),
      "kl": class_histogram_kl(mode_ids, 1000),
  }
