"""Class-conditional SNGAN with a projection discriminator (Miyato & Koyama 2018).

The SNGAN ResNet with class-conditional batch norm in G and the projection
term <embed(y), phi(x)> in the spectrally normalised D, hinge loss, n_dis 5,
Adam(2e-4, 0, 0.9); 10 MNIST classes, 28x28 digits zero-padded to 32x32.

Expected result and time: not measured yet.
"""

from experiments.configs import sngan_hinge


def get_config():
  config = sngan_hinge.get_config()
  config.conditioning = "projection"
  config.num_classes = 10
  return config
