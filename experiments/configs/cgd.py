"""The seed MLP GAN trained with competitive gradient descent on the zero-sum minimax game.

CGD (Schafer & Anandkumar 2019) solves for both players' joint step with
conjugate gradients on mixed Hessian-vector products of V(D, G).
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.loss = "minimax"  # CGD's system is symmetric positive definite for a zero-sum game.
  config.game_optimizer = "acgd"
  config.game_hparams.lr = 2e-4
  config.game_hparams.cg_max_iters = 5
  config.game_hparams.cg_tol = 1e-4
  return config
