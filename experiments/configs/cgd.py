"""The seed MLP GAN trained with competitive gradient descent (CGD).

CGD (Schafer & Anandkumar 2019) moves both players to the Nash equilibrium
of the bilinear approximation of the game regularised by their step sizes:
a conjugate-gradient solve on mixed Hessian-vector products, then
back-substitution for the other player. Its step is plain gradient-sized
(no per-coordinate scaling; ``acgd.py`` adds that), so it needs a ~50x larger
learning rate than Adam and is sensitive to it. The non-saturating loss is a
general-sum game, so ``zero_sum=False`` takes the curvature of both losses
and CG runs on the normal equations. With one step size for both players D
won (FID 79 at step 3,000, then 334 at 10,000, samples collapsed to one
digit); G stepping 3x faster than D and R1 on D (Mescheder et al. 2018)
keep the game balanced.

Expected result (mnist_5k, 3 seeds): FID 33.0 ± 8.0 at 5,000 steps and
24.6 ± 1.0 at 10,000 (the default Adam config: 63.3 and 50.3); training at
31 steps/s on 2 CPU cores (R1 adds third-order products to CG), about 6
minutes with evaluations. All seeds: docs/results.md#game-optimizers.
"""

from experiments.configs import acgd, default


def get_config():
  config = default.get_config()
  config.game_optimizer = "cgd"
  config.game_hparams.lr = 1e-2  # D's step size (player y).
  config.game_hparams.lr_x = 3e-2  # G's (player x).
  config.game_hparams.zero_sum = False
  config.regularizer = "r1"  # D's gradient penalty on real data, gamma 1.
  config.regularizer_weight = 1.0
  config.game_hparams.update(acgd.CG_SOLVE)
  config.update(acgd.RUN_LENGTH)
  return config
