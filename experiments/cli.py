"""What the experiment commands share: one-line errors, flag parsing, multi-process start.

A bad flag, file or directory ends a command with ``error: ...`` on one line
of stderr and exit status 2, never a traceback.
"""

import argparse
import ast
import sys
from typing import NoReturn

from absl import flags


def fail(message: str, status: int = 2) -> NoReturn:
  """Prints ``error: message`` to stderr and exits with ``status``."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


HELP_FLAGS = ("-h", "--help", "-help", "-?", "--helpshort", "--helpfull")


def exit_on_help(argv: list[str], extra: str = "") -> None:
  """Prints the command's usage and flags (then ``extra``) and exits 0 if argv asks for help.

  absl's own --help exits with status 1; a request for help is not an error.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
  if not any(a in HELP_FLAGS for a in args):
    return
  app.usage(shorthelp="--helpfull" not in args, writeto_stdout=True)
  if extra:
    print(extra)
  sys.exit(0)


def docstring_first_line(path: str) -> str:
  """The first line of the module docstring of the Python file ``path`` ('' if none)."""
  try:
    with open(path) as f:
      doc = ast.get_docstring(ast.parse(f.read()))
  except (OSError, SyntaxError, ValueError):
    return ""
  return doc.strip().splitlines()[0] if doc else ""


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser (``app.run(..., flags_parser=parse_flags)``), errors in one line."""
  exit_on_help(argv)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])


def import_modules(imports: str) -> None:
  """Imports ``config.imports`` (``gan_jax.registry.import_modules``); a failure is ``fail``.

  Call it before the config is validated, so the names those modules
  register are allowed.
  """
  from gan_jax import registry  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  try:
    registry.import_modules(imports)
  except UserError as e:
    fail(str(e))


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
