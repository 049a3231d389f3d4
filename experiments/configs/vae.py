"""The VAE baseline (Kingma & Welling 2014) on 28x28 MNIST, same workdir outputs as a GAN run.

An MLP encoder/decoder with one hidden layer of 500 units, 20 latents, a
Bernoulli likelihood and Adam(1e-3) for both networks (gan_jax.vae).

Expected result and time (docs/results.md), seed 0, 20,000 steps: on its
default mnist_5k data FID 49.1 / 45.1 / 43.0 / 42.6 at 5k / 10k / 15k /
20k (precision 0.70, recall 0.70 at the end; blurry but legible digits),
310 s on 2 AMD EPYC cores shared with two other runs; on Fashion-MNIST from
an npz, FID 36.04 in 319 s on 2 shared Intel Xeon cores.
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
