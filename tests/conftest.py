import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tiny_config():
  from experiments.configs import tiny
  return tiny.get_config()


def run_python(args, *, env_extra=None, timeout=300, **kwargs):
  """Runs ``python ARGS`` from the repo root; returns the CompletedProcess."""
  env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout, **kwargs)
