"""notebooks/game_optimizers.ipynb runs top to bottom on a few-step setting."""

import os

import nbformat
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = os.path.join(ROOT, "notebooks", "game_optimizers.ipynb")


def test_notebook_is_saved_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None


def test_game_optimizers_notebook_runs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(params) == 1
  params[0].source = "\n".join([
      "STEPS = 40", "STEPS_PER_CALL = 20", "SEED = 0", "GDA_LR = 0.05", "CGD_LR = 0.1",
      "FIELD_LR = 0.2", "FIELD_STEPS = 10"])
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": ROOT}}).execute()
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert not any(o.get("output_type") == "error" for o in outputs)
  figures = [o for o in outputs
             if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
  assert len(figures) == 4  # Ring runs, two vector-field figures, the new optimizer's run.
  text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
  assert "negative_momentum" in text and "cgd:" in text
