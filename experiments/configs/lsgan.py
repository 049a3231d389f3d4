"""LSGAN (Mao et al. 2017): the least-squares loss (0-1 coding) with the DCGAN nets on MNIST.

Adam(2e-4, beta1 0.5), as in the paper's experiments.

Expected result and time: not measured yet.
"""

from experiments.configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.loss = "least_squares"
  return config
