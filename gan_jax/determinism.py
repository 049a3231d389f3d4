"""Bit-reproducible runs on GPUs: XLA's deterministic-ops flag.

On a CPU a gan_jax run is a pure function of its config: the same config and
seed give the same parameters bit for bit. On a GPU XLA by default picks
convolution and matmul algorithms by timing candidates while it compiles (two
runs can pick different ones, which round differently) and may sum with
atomics, so two runs drift apart: two 20,000-step DCGAN runs with the same
config and seed on an H100 ended with different parameters (FID 19.7 and
20.5). ``--xla_gpu_deterministic_ops=true`` makes XLA choose
deterministically.

XLA reads ``XLA_FLAGS`` once, when JAX starts its first backend, so the flag
must be in the environment before anything runs on a device. The experiment
commands call :func:`request_deterministic_gpu_ops` first thing; in a notebook
call it (or set the variable) in the first cell. An explicit
``--xla_gpu_deterministic_ops=false`` in ``XLA_FLAGS`` is left alone, for
runs that trade reproducibility for speed.
"""

from __future__ import annotations

import os
import re
from typing import MutableMapping, Optional

FLAG = "--xla_gpu_deterministic_ops"
# XLA's boolean flags: "--name" alone, or "--name=true|false|1|0".
_FLAG_RE = re.compile(re.escape(FLAG) + r"(?:=(\S*))?(?=\s|$)")


def _flag_value(xla_flags: str) -> Optional[bool]:
  """The flag's last value in an ``XLA_FLAGS`` string; None when it is absent."""
  values = _FLAG_RE.findall(xla_flags)
  if not values:
    return None
  return values[-1].lower() in ("", "true", "1")


def request_deterministic_gpu_ops(environ: Optional[MutableMapping[str, str]] = None) -> None:
  """Adds ``--xla_gpu_deterministic_ops=true`` to ``XLA_FLAGS`` unless it names the flag.

  Call before JAX starts a backend (the first array or device query); the flag
  is harmless on a CPU.

  Args:
    environ: the environment to change; default ``os.environ``.
  """
  environ = os.environ if environ is None else environ
  xla_flags = environ.get("XLA_FLAGS", "")
  if _flag_value(xla_flags) is None:
    environ["XLA_FLAGS"] = f"{xla_flags} {FLAG}=true".strip()


def gpu_ops_deterministic(environ: Optional[MutableMapping[str, str]] = None) -> bool:
  """Whether ``XLA_FLAGS`` turns XLA's deterministic GPU ops on.

  Args:
    environ: the environment to read; default ``os.environ``.

  Returns:
    True when the flag is set to true; it only takes effect if it was set
    before JAX started its backends.
  """
  environ = os.environ if environ is None else environ
  return bool(_flag_value(environ.get("XLA_FLAGS", "")))
