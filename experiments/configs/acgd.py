"""The seed MLP GAN trained with adaptive competitive gradient descent (ACGD).

ACGD (Schafer, Zheng & Anandkumar 2020) is CGD with RMSprop-style
per-coordinate step sizes: each step solves the regularised bilinear game of
both players by conjugate gradients on mixed Hessian-vector products of the
generator's loss (the zero-sum curvature), then back-substitutes the other
player. With the non-saturating loss and lr 2e-3 it trains the seed MLP on
mnist_5k to lower FIDs than the default Adam run at every step; with the
saturating minimax loss it collapses (D rejects every sample and G's gradient
vanishes; see docs/results.md#game-optimizers for the measurements).

Expected result and time: see docs/results.md#game-optimizers (FID at 5,000
steps and at 10,000, and the run's wall time).
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.game_optimizer = "acgd"
  config.game_hparams.lr = 2e-3
  config.game_hparams.cg_max_iters = 5
  config.game_hparams.cg_tol = 1e-4
  config.num_steps = 10_000
  config.eval_every = 2_500
  config.sample_every = 2_500
  config.checkpoint_every = 2_500
  return config
