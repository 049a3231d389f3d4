"""A seconds-long MLP GAN for tests and smoke runs.

No expected result (a smoke test: FID stays in the hundreds). Time: 43 s
from the command line on 2 CPU cores shared with two other runs
(2026-12-02; summary.json's wall_s 37 s), nearly all of it compilation.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.hidden_dims = (32, 32)
  config.latent_dim = 16
  config.batch_size = 16
  config.num_steps = 40
  config.steps_per_call = 5
  config.log_every = 10
  config.eval_every = 20
  config.sample_every = 20
  config.checkpoint_every = 20
  config.num_eval_samples = 100
  config.eval_features = "pixels"  # No classifier training in smoke runs.
  config.progress_bar = False
  return config
