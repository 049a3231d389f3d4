"""Class-conditional SNGAN with a projection discriminator (Miyato & Koyama 2018).

The SNGAN ResNet with class-conditional batch norm in G and the projection
term <embed(y), phi(x)> in the spectrally normalised D, hinge loss, n_dis 5,
Adam(2e-4, 0, 0.9); 10 MNIST classes, 28x28 digits zero-padded to 32x32.

Expected result: not measured yet. Time: a GPU config. On 2 CPU cores with
another run alongside one step took about 26 s (steps 10-20 of a 30-step run,
2026-12-02), like ``sngan_hinge.py``.
"""

from experiments.configs import sngan_hinge


def get_config():
  config = sngan_hinge.get_config()
  config.conditioning = "projection"
  config.num_classes = 10
  return config
