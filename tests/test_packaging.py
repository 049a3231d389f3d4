"""pyproject.toml pins what requirements.txt pins, and the installed package imports anywhere."""

import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

from conftest import ROOT

ROOT_PATH = pathlib.Path(ROOT)


def _requirements() -> set[str]:
  with open(os.path.join(ROOT, "requirements.txt")) as f:
    lines = (line.split("#")[0].strip() for line in f)
    return {line for line in lines if line}


def test_pyproject_dependencies_match_requirements():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  declared = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
  assert declared == _requirements()
  assert not set(project["dependencies"]) & set(project["optional-dependencies"]["test"])


def test_installed_package_imports_from_another_directory(tmp_path):
  # A copy of the project, so the build's build/ and egg-info stay out of the
  # checkout; --no-deps and --no-build-isolation: the environment's own
  # setuptools, nothing fetched.
  source = tmp_path / "src"
  source.mkdir()
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(ROOT_PATH / name, source / name)
  shutil.copytree(ROOT_PATH / "gan_jax", source / "gan_jax",
                  ignore=shutil.ignore_patterns("__pycache__"))
  site = tmp_path / "site"
  install = subprocess.run(
      [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
       "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
  assert install.returncode == 0, install.stderr[-2000:]
  modules = sorted(".".join(p.parent.relative_to(ROOT_PATH).parts)
                   for p in (ROOT_PATH / "gan_jax").rglob("__init__.py"))
  assert "gan_jax.games" in modules and "gan_jax.metrics" in modules
  code = ("import importlib, sys\n"
          f"for m in {modules!r}: importlib.import_module(m)\n"
          "print(sys.modules['gan_jax'].__file__)")
  run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(site)))
  assert run.returncode == 0, run.stderr[-2000:]
  assert run.stdout.strip() == str(site / "gan_jax" / "__init__.py")
