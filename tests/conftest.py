import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# XLA's CPU backend without LLVM optimizations: the suite runs tiny programs a
# few steps each, so compiling dominates and optimized code would not pay
# for itself (tests/test_zoo_configs.py: 99 s -> 66 s on 2 cores). Set before
# jax is imported; the subprocess tests inherit it (pass extra flags through
# ``xla_flags`` to keep it).
_TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def xla_flags(*flags: str) -> str:
  """This session's ``XLA_FLAGS`` with ``flags`` added, for a subprocess's environment."""
  return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


if _TEST_XLA_FLAGS.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = xla_flags(_TEST_XLA_FLAGS)

# One persistent XLA compilation cache for the session, shared with the
# subprocess tests (CLI runs, pmap and multi-process scripts), which compile
# the same tiny programs again and again: it cut tests/test_experiment.py from
# 112 s to 82 s. Compile time dominates this suite's time on 2 CPU cores.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE_DIR = tempfile.mkdtemp(prefix="gan_jax_tests_xla_cache_")
  atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE_DIR
  _MIN_COMPILE_SECS = 0.0  # Cache every program, even the op-by-op ones of eager init.
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(_MIN_COMPILE_SECS)
  # The environment reaches the subprocesses; the updates reach this process,
  # in case a pytest plugin imported jax before the environment was set.
  import jax  # noqa: E402
  jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_SECS)


@pytest.hookimpl(tryfirst=True)  # Before xdist reads the groups into the test ids.
def pytest_collection_modifyitems(items):
  """Groups the tests that share a module-scoped fixture onto one xdist worker.

  Under the README's ``--dist loadgroup`` the fixture (most of them train a
  run) is then built once, not once on each worker that draws one of its tests.
  """
  for item in items:
    fixtures = getattr(item, "_fixtureinfo", None)
    scopes = [defs[-1].scope for defs in fixtures.name2fixturedefs.values()] if fixtures else []
    if "module" in scopes:
      item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture
def tiny_config():
  from experiments.configs import tiny
  return tiny.get_config()


def brightness_of(digits):
  """uint8 pixel values coding the digits 0-9 (25.6 d + 5), as ``read_brightness`` reads them."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return (np.asarray(digits) * 25.6 + 5).astype(np.uint8)


def read_brightness(images):
  """A stand-in classifier's ``embed``: each image's digit read off its mean brightness.

  Returns (features [N, 1] of zeros, one-hot probabilities [N, 10]).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  digits = (images.reshape(len(images), -1).mean(axis=1) // 25.6).astype(int).clip(0, 9)
  return np.zeros((len(images), 1)), np.eye(10)[digits]


def run_python(args, *, env_extra=None, timeout=300, **kwargs):
  """Runs ``python ARGS`` from the repo root; returns the CompletedProcess."""
  env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout, **kwargs)


def wait_for_checkpoint(workdir, proc, timeout=120):
  """Waits until ``workdir/checkpoints`` holds a step (``proc`` still running)."""
  deadline = time.time() + timeout
  ckpt = os.path.join(workdir, "checkpoints")
  while time.time() < deadline and proc.poll() is None:
    if os.path.isdir(ckpt) and any(d.isdigit() for d in os.listdir(ckpt)):
      return
    time.sleep(0.01)
  raise AssertionError(f"no checkpoint appeared; exit code {proc.poll()}")
