"""A GAN on a ring of 8 Gaussians (radius 1, std 0.01): the mode-coverage benchmark.

    python -m experiments.train --config experiments/configs/mog_ring.py:OPTIMIZER --workdir DIR

``mog_grid.py``'s settings per optimizer (OPTIMIZER: 'adam' or a game
optimizer; none: the best recipe) and run lengths. In the networks'
coordinates the ring's modes are as narrow as the grid's (std 0.01 against
0.05 / 4), so the ring needs the same time to sharpen them: at half the
steps (until 2026-12-02) Adam reached 47% high quality over seeds 0-4,
at the full steps 98% on seed 0. Only CGD runs shorter (``STEPS``): a
third of its grid steps, where seed 100 reached 90.6% high quality (88.8%
at 27,000 steps); the full 120,000 would take about an hour per run.
summary.json holds ``modes`` (of 8), ``high_quality`` and ``reverse_kl``.

Expected results (5 seeds, docs/results.md#2-d-gaussian-mixtures-mode-coverage;
``python -m experiments.mog_table --datasets ring``): ACGD 8/8 modes,
97.9 ± 0.2% high quality (97.2-98.4%), reverse KL 0.001, about 21 minutes
per run with two runs sharing 2 CPU cores; CGD (40,000 steps) 8/8 modes,
90.7 ± 0.7% (89.1-93.2%), reverse KL 0.002, about 19 minutes; Adam 8/8,
96.6 ± 0.5% in about a minute.
"""

from experiments.configs import mog_grid

# Run lengths that differ from the grid's; the learning-rate schedule's
# boundaries are fractions of the run, so they move with it.
STEPS = {"cgd": 40_000}


def get_config(optimizer: str = ""):
  config = mog_grid.get_config(optimizer)
  config.dataset = "mixture:ring"
  config.num_steps = STEPS.get(optimizer or mog_grid.BEST, config.num_steps)
  return config
