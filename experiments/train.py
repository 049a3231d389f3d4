"""Trains a GAN: ``python -m experiments.train [--config FILE] [--workdir DIR] [--config.KEY=VALUE]``.

With no flags it trains the seed MLP GAN (experiments/configs/default.py) into
runs/default. Re-running the same command resumes from the newest checkpoint.

Several hosts: start one process per host with the same flags plus
``--coordinator_address HOST:PORT --num_processes N --process_id I``; each
calls ``jax.distributed.initialize`` and the pmapped step spans every device
of every process.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import cli
from gan_jax import determinism

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "default.py")

config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Experiment config file.",
                                lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; default runs/<config name>.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "host:port of process 0, for multi-process runs.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")


def _config_name() -> str:
  path = flags.FLAGS["config"].config_filename
  return os.path.splitext(os.path.basename(path.split(":")[0]))[0]


def _parse_flags(argv):
  """absl's parser, with bad --config.KEY overrides reported in one line."""
  try:
    argv = flags.FLAGS(argv)
    flags.FLAGS.config.to_dict()  # config_flags defers file errors to first use.
    return argv
  except OSError as e:
    cli.fail(f"cannot load config file {flags.FLAGS['config'].config_filename!r} "
             f"({str(e).splitlines()[-1].strip()})")
  except (AttributeError, KeyError) as e:  # ml_collections: no such config key.
    from gan_jax.config import known_keys
    cli.fail(f"unknown config key {str(e).strip(chr(34))} on the command line; known keys: "
             f"{', '.join(known_keys())}")
  except (flags.Error, ValueError, TypeError) as e:
    cli.fail(str(e).splitlines()[0])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  determinism.request_deterministic_gpu_ops()  # Before jax starts a backend.
  import jax  # After flag parsing, so --help stays fast.
  if _COORDINATOR.value:
    cli.init_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)

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
    print(f"interrupted: {e}", file=sys.stderr)
    sys.exit(128 + e.signum)
  print(f"done: step {summary['step']} params_sha256={summary['params_sha256']} "
        f"(summary: {os.path.join(workdir, 'summary.json')})", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
