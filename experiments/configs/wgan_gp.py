"""WGAN-GP (Gulrajani et al. 2017) with the DCGAN architecture on 28x28 MNIST.

The Wasserstein critic loss plus the gradient penalty with lambda = 10,
n_critic = 5 critic steps per generator step and Adam(1e-4, beta1 0,
beta2 0.9): the paper's Algorithm 1. The critic has no batch norm.

Expected result (docs/results.md; mnist_5k, seed 0): FID 5.8 at 5,000
steps, 3.8 at 10,000 and 1.9 at 20,000 (the best; recall 0.90), in 6,366 s
on 2 Intel Xeon cores with evaluations every 2,500 steps (3.4 generator
steps/s alone). On one H100 the 20,000 steps took 123 s (an earlier code
version; its FID was not kept). A 2,000-step Fashion-MNIST run reached FID
43.95 in 1,910 s on 2 shared CPU cores.
"""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.model = "dcgan"
  config.width = 64
  config.loss = "wasserstein"
  config.regularizer = "gp"
  config.regularizer_weight = 10.0
  config.d_steps_per_g_step = 5
  config.g_learning_rate = 1e-4
  config.d_learning_rate = 1e-4
  config.adam_b1 = 0.0
  config.adam_b2 = 0.9
  config.num_steps = 20_000
  return config
