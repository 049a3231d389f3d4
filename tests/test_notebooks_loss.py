"""notebooks/extend_a_loss.ipynb runs top to bottom on a few-step setting."""

import json
import os

import nbformat
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = os.path.join(ROOT, "notebooks", "extend_a_loss.ipynb")


def test_extend_a_loss_notebook_runs(tmp_path):
  nb = nbformat.read(NOTEBOOK, as_version=4)
  params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(params) == 1
  params[0].source = "\n".join([
      "NUM_STEPS = 4", "STEPS_PER_CALL = 2", "LOG_EVERY = 2", "BATCH_SIZE = 8",
      "HIDDEN_DIMS = (16,)", "LATENT_DIM = 4", "MARGIN = 1.0", "SEED = 0",
      f"WORKDIR_ROOT = {str(tmp_path)!r}"])
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": ROOT}}).execute()
  for name in ("softplus_hinge", "non_saturating"):
    summary = json.load(open(tmp_path / name / "summary.json"))
    assert summary["step"] == 4 and len(summary["params_sha256"]) == 64
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
             for o in outputs)  # The side-by-side figure was drawn.
  assert not any(o.get("output_type") == "error" for o in outputs)
