"""The VAE baseline (Kingma & Welling 2014) on 28x28 MNIST, same workdir outputs as a GAN run.

An MLP encoder/decoder with one hidden layer of 500 units, 20 latents, a
Bernoulli likelihood and Adam(1e-3) for both networks (gan_jax.vae).

Measured (docs/results.md) on Fashion-MNIST from an npz, 20,000 steps,
seed 0: FID 36.04 in 319 s on 2 Intel Xeon cores shared with two other
runs. On its default mnist_5k data: not measured yet.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.model = "vae"
  config.hidden_dims = (500,)
  config.latent_dim = 20
  config.g_learning_rate = 1e-3
  config.d_learning_rate = 1e-3
  config.adam_b1 = 0.9
  config.num_steps = 20_000
  return config
