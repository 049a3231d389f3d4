"""LSGAN (Mao et al. 2017): the least-squares loss (0-1 coding) with the DCGAN nets on MNIST.

Adam(2e-4, beta1 0.5), as in the paper's experiments.

Expected result (mnist_5k, seed 0): FID 19.2 at 5,000 steps, 13.9 at
10,000 (the best checkpoint) and 15.1 at 20,000, precision 0.68 and recall
0.87 at the end; 76 min on 2 CPU cores shared with another run for most of
it (about 4 steps/s shared, 7.5 alone). Details: docs/results.md#mnist-mnist_5k.
"""

from experiments.configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.loss = "least_squares"
  return config
