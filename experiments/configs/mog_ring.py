"""A GAN on a ring of 8 Gaussians (radius 1, std 0.01): the mode-coverage benchmark.

    python -m experiments.train --config experiments/configs/mog_ring.py:OPTIMIZER --workdir DIR

``mog_grid.py``'s settings per optimizer (OPTIMIZER: 'adam' or a game
optimizer; none: the best recipe) at half its steps. summary.json holds
``modes`` (of 8), ``high_quality`` and ``reverse_kl``.

Expected results (5 seeds, docs/results.md#2-d-gaussian-mixtures-mode-coverage;
``python -m experiments.mog_table``).
"""

from experiments.configs import mog_grid


def get_config(optimizer: str = ""):
  config = mog_grid.get_config(optimizer)
  config.dataset = "mixture:ring"
  config.num_steps //= 2
  config.sample_every = 1_000
  return config
