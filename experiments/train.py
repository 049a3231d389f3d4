"""Trains a GAN: ``python -m experiments.train [--config FILE] [--workdir DIR] [--config.KEY=VALUE]``.

With no flags it trains the seed MLP GAN (experiments/configs/default.py) into
runs/default. Re-running the same command resumes from the newest checkpoint.
``--config.imports=MODULE[,MODULE...]`` imports modules (on PYTHONPATH) that
register their own losses, models, optimizers, ... (``gan_jax.registry``)
before the config is checked, so e.g. ``--config.loss=my_loss`` is accepted.

Several hosts: start one process per host with the same flags plus
``--coordinator_address HOST:PORT --num_processes N --process_id I``; each
calls ``jax.distributed.initialize`` and the pmapped step spans every device
of every process.
"""

import glob
import os
import re
import signal
import sys


def _exit_interrupted(signum=None, frame=None):
  """Ctrl-C outside the training loop: one line, exit 130, at once.

  The loop (``gan_jax.train``) installs its own handler, which saves a
  checkpoint first; outside it nothing a later run needs is half-written
  (start-up writes nothing before its checks; summary.json is replaced
  whole), and the workdir's lock file (and the workdir, if this run created
  it and left it empty) is removed here. ``os._exit``: an exception raised
  from a signal handler can land in code that swallows it (a
  garbage-collection callback, a library's broad except), and the command
  would go on.
  """
  del signum, frame
  print("interrupted: stopped outside the training loop; re-run the same command to start "
        "or resume the run", file=sys.stderr, flush=True)
  workdir_lib = sys.modules.get("gan_jax.workdir")  # Loaded once a workdir may be locked.
  if workdir_lib is not None:
    workdir_lib.release_held()
  os._exit(130)


if __name__ == "__main__":
  signal.signal(signal.SIGINT, _exit_interrupted)  # From the first import on.

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import cli
from gan_jax import determinism

_DEFAULT_CONFIG = os.path.join(cli.CONFIG_DIR, "default.py")

# The argv the config flag reads its --config.KEY overrides from: filled by
# _parse_flags once it has checked them (config_flags would otherwise read
# sys.argv, and parse the default config while this module is imported).
_CONFIG_ARGV: list[str] = []
# New keys are accepted (game_hparams.KEY, which no config can list for every
# game optimizer); _check_overrides and config.validate refuse every key
# that is not allowed, before a run starts.
config_flags.DEFINE_config_file(
    "config", None, f"Experiment config file (default {os.path.relpath(_DEFAULT_CONFIG)}).",
    lock_config=False, accept_new_attributes=True, sys_argv=_CONFIG_ARGV)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default runs/<config name>.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "host:port of process 0, for multi-process runs.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")

# --config.KEY / --noconfig.KEY, as ml_collections' config_flags matches them.
_OVERRIDE = re.compile(r"^--?(?:no)?config\.([^=]+)")
# The only key that holds keys: the game optimizer's hyperparameters.
_NESTED_KEYS = ("game_hparams",)


def _config_name() -> str:
  path = flags.FLAGS["config"].config_filename
  return os.path.splitext(os.path.basename(path.split(":")[0]))[0]


def _configs_help() -> str:
  """The configs in experiments/configs with the first line of each docstring."""
  lines = ["Configs (--config experiments/configs/NAME.py):"]
  for path in sorted(glob.glob(os.path.join(cli.CONFIG_DIR, "*.py"))):
    name = os.path.splitext(os.path.basename(path))[0]
    if name.startswith("_"):
      continue
    lines.append(f"  {name:<20} {cli.docstring_first_line(path)}")
  lines.append("Every key, its default and its meaning: experiments/configs/default.py; "
               "override any with --config.KEY=VALUE (game optimizer settings: "
               "--config.game_hparams.KEY=VALUE, keys from gan_jax.games.defaults(name)).")
  return "\n".join(lines)


def _config_path(argv: list[str]) -> tuple[list[str], str]:
  """argv with --config set (the default config when absent), and the config's path."""
  for i, arg in enumerate(argv[1:], 1):
    if arg == "--config" or arg == "-config":
      if i + 1 >= len(argv):
        cli.fail("flag --config needs a config file path")
      return argv, argv[i + 1]
    if arg.startswith(("--config=", "-config=")):
      return argv, arg.split("=", 1)[1]
    if arg == "--":
      break
  return [argv[0], f"--config={_DEFAULT_CONFIG}", *argv[1:]], _DEFAULT_CONFIG


def _check_overrides(config, argv: list[str]) -> None:
  """Refuses a --config.KEY override whose KEY the config does not have.

  Top-level keys must exist; of the nested ones, only game_hparams.KEY,
  checked against the game optimizer by ``config.validate``.
  """
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  from gan_jax.config import unknown_key_message  # pylint: disable=g-import-not-at-top
  for arg in argv[1:]:
    if arg == "--":
      break
    match = _OVERRIDE.match(arg)
    if not match:
      continue
    key, *rest = match.group(1).split(".")
    if key not in config:
      raise UserError(unknown_key_message(key, " on the command line"))
    if rest and (key not in _NESTED_KEYS or len(rest) > 1 or not rest[0]):
      nested = ", ".join(f"{k}.KEY" for k in _NESTED_KEYS)
      raise UserError(f"--config.{match.group(1)}: config.{key} holds no keys; only {nested} "
                      "can be set this way")


def _parse_flags(argv):
  """absl's parser, with every bad --config, --config.KEY or flag reported in one line."""
  from gan_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  cli.exit_on_help(argv, _configs_help())
  argv, path = _config_path(list(argv))
  try:
    _check_overrides(cli.load_config_file(path), argv)
  except UserError as e:
    cli.fail(str(e))
  _CONFIG_ARGV[:] = argv
  try:
    argv = flags.FLAGS(argv)
    flags.FLAGS.config.lock()  # From here on a misspelt key raises, as before.
    return argv
  except (flags.Error, ValueError, TypeError, KeyError, AttributeError, OSError) as e:
    cli.fail((str(e).strip().splitlines() or [type(e).__name__])[0])


def main(argv):
  """Start-up, training and the closing line."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  import jax  # After flag parsing, so --help stays fast.
  if cli.check_distributed_flags(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value):
    cli.init_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  # config.imports register their names before train_and_evaluate validates
  # the config (flag parsing checks keys only, never values); after the
  # deterministic-ops flag and jax.distributed, which must precede any device
  # use such a module might make at import.
  cli.import_modules(flags.FLAGS.config.get("imports", ""))

  from gan_jax import train
  from gan_jax.errors import Interrupted, NonFiniteError, UserError

  workdir = _WORKDIR.value or os.path.join("runs", _config_name())
  if jax.process_index() == 0:
    print(f"workdir: {os.path.abspath(workdir)}", flush=True)
  try:
    summary = train.train_and_evaluate(flags.FLAGS.config, workdir)
  except (UserError, NonFiniteError) as e:
    cli.fail(str(e), 1 if isinstance(e, NonFiniteError) else 2)
  except Interrupted as e:
    cli.stop_interrupted(e)
  print(f"done: step {summary['step']} params_sha256={summary['params_sha256']} "
        f"(summary: {os.path.join(workdir, 'summary.json')})", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
