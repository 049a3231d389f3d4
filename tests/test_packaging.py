"""pyproject.toml pins what requirements.txt pins."""

import os
import tomllib

from conftest import ROOT


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
