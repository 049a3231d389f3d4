"""What the experiment commands share: one-line errors, flag parsing, multi-process start.

A bad flag, file or directory ends a command with ``error: ...`` on one line
of stderr and exit status 2, never a traceback.
"""

import argparse
import ast
import glob
import importlib.util
import os
import sys
import traceback
from typing import NoReturn, Optional

from absl import flags

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "configs")


def fail(message: str, status: int = 2) -> NoReturn:
  """Prints ``error: message`` to stderr and exits with ``status``."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


def stop_interrupted(error) -> NoReturn:
  """Ends a command that SIGINT or SIGTERM stopped (``gan_jax.errors.Interrupted``).

  One ``interrupted: ...`` line on stderr (the step, and that the checkpoint
  was saved) and exit status 128 + the signal, as a shell reports a signal.
  """
  print(f"interrupted: {error}", file=sys.stderr, flush=True)
  sys.exit(128 + error.signum)


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


def check_distributed_flags(coordinator_address: Optional[str], num_processes: Optional[int],
                            process_id: Optional[int]) -> bool:
  """Whether the flags ask for a multi-process run; a one-line error if they do not fit together."""
  given = [coordinator_address, num_processes, process_id]
  if all(value is None for value in given):
    return False
  usage = "a multi-process run needs --coordinator_address HOST:PORT, --num_processes N and "
  if any(value is None for value in given):
    fail(usage + "--process_id I together; got " + ", ".join(
        f"--{name}={value}" for name, value in zip(
            ("coordinator_address", "num_processes", "process_id"), given) if value is not None))
  host, _, port = coordinator_address.rpartition(":")
  if not host or not port.isdigit():
    fail(f"--coordinator_address={coordinator_address!r} is not allowed; it must be HOST:PORT, "
         "e.g. 10.0.0.1:1234")
  if num_processes < 1 or not 0 <= process_id < num_processes:
    fail(f"--num_processes={num_processes} --process_id={process_id} is not allowed; it needs "
         "N >= 1 and 0 <= I < N")
  return True


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


def load_config_file(path: str):
  """``get_config()`` of the config file ``path`` (``FILE[:ARG]``); one-line errors.

  Raises:
    UserError: the file is missing, does not parse, fails, or has no get_config.
  """
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  filename, *args = path.split(":", 1)
  if not os.path.isfile(filename):
    raise UserError(f"config file {filename!r} does not exist; the configs in "
                    f"{os.path.relpath(CONFIG_DIR)}: {', '.join(config_names())}")
  try:
    spec = importlib.util.spec_from_file_location("config_file", filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "get_config", None)):
      raise UserError(f"config file {filename!r} has no get_config() function")
    return module.get_config(*args)
  except SyntaxError as e:
    raise UserError(f"config file {filename!r} does not parse: {e.msg} at line {e.lineno}"
                    ) from None
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (any error of the user's code)
    here = [f for f in traceback.extract_tb(e.__traceback__)
            if os.path.abspath(f.filename) == os.path.abspath(filename)]
    where = f" at line {here[-1].lineno}" if here else ""
    raise UserError(f"config file {filename!r} failed{where}: {type(e).__name__}: "
                    f"{(str(e).splitlines() or [''])[0]}") from None


def config_names() -> list[str]:
  return sorted(os.path.splitext(os.path.basename(p))[0]
                for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))
                if not os.path.basename(p).startswith("_"))
