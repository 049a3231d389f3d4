"""Stacked MNIST with the DCGAN: the 1,000-mode benchmark of Metz et al. 2017 and PacGAN.

Each training image stacks three digits of ``mnist_5k``, drawn afresh at
every step, as its colour channels (``gan_jax.stacked_mnist``); the
evaluation reads each channel of 26,000 samples with the digit classifier
(the count in PacGAN's published code, Lin et al. 2018) and reports how many of the
1,000 digit triples occur (``modes``) and the KL divergence of their
histogram from uniform (``reverse_kl``). The best checkpoint is the one with
the most modes. The DCGAN nets and Adam settings of ``dcgan.py``, 3-channel
output. Adam (PacGAN's DCGAN row), unrolled (Metz et al.) and ACGD::

    python -m experiments.train --config experiments/configs/stacked_mnist.py
    python -m experiments.train --config experiments/configs/stacked_mnist.py \\
        --config.game_optimizer=unrolled --workdir runs/stacked_mnist_unrolled
    python -m experiments.train --config experiments/configs/stacked_mnist.py \\
        --config.game_optimizer=acgd --config.game_hparams.lr=2e-4 \\
        --config.game_hparams.cg_max_iters=5 --config.game_hparams.cg_tol=1e-4 \\
        --workdir runs/stacked_mnist_acgd

ACGD runs at Adam's learning rate: ``acgd.py``'s 2e-3 (the seed MLP's)
lets D win on these nets by step 2,000. Expected result (docs/results.md;
seed 0, one run each, on 2 AMD EPYC cores): Adam covers 104, 966 and
985 of the 1,000 triples at steps 1,000, 2,000 and 5,000 (reverse KL
0.31) at 11 steps/s; ACGD 988 and 992 at steps 1,000 and 2,000 (KL
0.22) at 1.4 steps/s (seed 1: 987 and 977 at steps 500 and 1,000, Adam 47
and 183); unrolled GD collapses (137 at step 1,000, 70 at
2,000). About 15 s per evaluation of 26,000 samples; the full 20,000 Adam
steps would take about 32 minutes, ACGD's about 4 hours. Other CPUs give
other bits: on 2 Intel Xeon cores Adam had 35 and 809 at steps 1,000 and
2,000, and 996 (KL 0.25) at 5,000.
"""

from experiments.configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.dataset = "stacked:mnist_5k"
  config.num_eval_samples = 26_000
  config.eval_every = 5_000
  config.best_metric = "modes"
  config.best_mode = "max"
  return config
