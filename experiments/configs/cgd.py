"""The seed MLP GAN trained with competitive gradient descent (CGD).

CGD (Schafer & Anandkumar 2019) moves both players to the Nash equilibrium
of the bilinear approximation of the game regularised by one step size: a
conjugate-gradient solve on mixed Hessian-vector products, then
back-substitution for the other player. Its step is plain gradient-sized
(no per-coordinate scaling; ``acgd.py`` adds that), so it needs a ~50x larger
learning rate than Adam and is sensitive to it. With one step size for both
players D won (d_loss -> 0.3 and FID 79 -> 334 from step 3,000 to 10,000), so
G steps 3x D's. The non-saturating loss is a general-sum game, so
``zero_sum=False`` takes the curvature of both losses and CG runs on the
normal equations.

Expected result and time: see docs/results.md#game-optimizers.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.game_optimizer = "cgd"
  config.game_hparams.lr = 1e-2  # D's step size (player y).
  config.game_hparams.lr_x = 3e-2  # G's (player x).
  config.game_hparams.zero_sum = False
  config.game_hparams.cg_max_iters = 5
  config.game_hparams.cg_tol = 1e-4
  config.num_steps = 10_000
  config.eval_every = 2_500
  config.sample_every = 2_500
  config.checkpoint_every = 2_500
  return config
