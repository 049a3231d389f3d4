"""What the experiment commands share: one-line errors, flag parsing, multi-process start.

A bad flag, file or directory ends a command with ``error: ...`` on one line
of stderr and exit status 2, never a traceback.
"""

import argparse
import sys
from typing import NoReturn

from absl import flags


def fail(message: str, status: int = 2) -> NoReturn:
  """Prints ``error: message`` to stderr and exits with ``status``."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser (``app.run(..., flags_parser=parse_flags)``), errors in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])


def init_distributed(coordinator_address: str, num_processes: int, process_id: int) -> None:
  """Joins this process to a multi-process run (``jax.distributed``)."""
  import jax  # pylint: disable=g-import-not-at-top  (only multi-process runs need it here)
  # Cross-process collectives on CPU need gloo; the setting is ignored on GPU/TPU.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address, num_processes, process_id)


class ArgumentParser(argparse.ArgumentParser):
  """argparse for the commands that do not use absl, with the same one-line errors."""

  def error(self, message: str) -> NoReturn:
    fail(message)
