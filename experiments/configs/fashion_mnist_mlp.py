"""The seed MLP GAN on Fashion-MNIST from an npz file (60,000 training images)."""

from experiments.configs import default


def get_config():
  config = default.get_config()
  config.dataset = "npz:../shared/data/fashion_mnist.npz"
  return config
