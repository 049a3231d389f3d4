"""Runs the fused training loop on 1 device, and shard_mapped and pmapped over all devices.

Prints the max diffs of each data-parallel form against the one device.

Two settings: ``mlp`` (the seed's tiny MLP GAN with the relativistic
average loss, whose batch means must span all devices, moved by a game
optimizer) and ``zoo``: a DCGAN with batch norm in G (statistics synced over
devices), a spectrally normalised D, the WGAN-GP gradient penalty, an EMA
generator and Adam, 2 D steps per G step. (Labels, DiffAugment and lazy penalties draw per example with the same
global-row rule; their split invariance is unit-tested.) The last line is a
JSON object keyed by setting, then by parallelism ("shard_map", "pmap").

Run with XLA_FLAGS=--xla_force_host_platform_device_count=N set before jax is imported.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from experiments.configs import tiny
from gan_jax import networks, train, train_step

STEPS = 3




def zoo_config():
  config = tiny.get_config()
  config.model = "dcgan"
  config.width = 4
  config.latent_dim = 8
  config.loss = "hinge"
  config.spectral_norm = True
  config.regularizer = "gp"
  config.regularizer_weight = 1.0
  config.g_ema_decay = 0.5
  config.d_steps_per_g_step = 2
  return config, (12, 12, 1)


def mlp_config():
  config = tiny.get_config()
  config.loss = "relativistic"  # Batch means of logits: must span the devices.
  # Plain gradient steps: the loss does not depend on D's output bias, whose
  # gradient is rounding noise that Adam would scale up to full steps.
  config.game_optimizer = "simultaneous_gda"
  config.game_hparams.update({"lr_x": 0.05, "lr_y": 0.05})
  return config, (28, 28, 1)


def compare(config, image_shape):
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (64,) + image_shape, np.uint8))
  labels = (jnp.asarray(rng.integers(0, config.num_classes, 64), jnp.int32)
            if networks.num_classes(config) else None)
  source = {"image": images, **({"label": labels} if labels is not None else {})}
  generator, discriminator, state = train.build(config, image_shape)
  data_key = jax.random.PRNGKey(7)

  def run(parallelism):
    axis = None if parallelism is None else "batch"
    step_fn = train.make_step(config, generator, discriminator, axis)
    loop = train_step.compile_train_loop(
        train_step.make_train_loop(step_fn, global_batch=config.batch_size,
                                   d_steps=config.d_steps_per_g_step, steps_per_call=STEPS,
                                   axis_name=axis), axis_name=axis, parallelism=parallelism)
    inputs = jax.tree.map(jnp.copy, (state, source, data_key))  # The loop donates the state.
    if parallelism is None:
      return loop(*inputs)
    if parallelism == "pmap":
      return train_step.unreplicate(loop(*train_step.replicate(inputs)))
    mesh = train_step.data_mesh(axis)
    return train_step.local_copy(loop(*train_step.put_replicated(inputs, mesh)))

  single_state, single_metrics = run(None)
  return {parallelism: _report(state, single_state, single_metrics, *run(parallelism))
          for parallelism in train_step.PARALLELISM}


def _report(state, single_state, single_metrics, multi_state, multi_metrics):
  diff = lambda a, b: max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                          for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  trained = lambda s: (s.g.params, s.d.params, s.g_ema)
  return {
      "devices": jax.local_device_count(),
      "params_max_diff": diff(trained(single_state), trained(multi_state)),
      "params_max_change": diff(trained(single_state), trained(state)),
      "stats_max_diff": (diff((single_state.g_stats, single_state.d_stats),
                              (multi_state.g_stats, multi_state.d_stats))
                         if single_state.g_stats or single_state.d_stats else 0.0),
      "stats_max_change": (diff((single_state.g_stats, single_state.d_stats),
                                (state.g_stats, state.d_stats))
                           if state.g_stats or state.d_stats else 0.0),
      "stats_collections": sorted(list(state.g_stats) + list(state.d_stats)),
      "metrics_max_diff": diff(single_metrics, multi_metrics),
      "metric_names": sorted(single_metrics),
      "steps": [int(single_state.step), int(multi_state.step)],
  }


SETTINGS = {"mlp": mlp_config, "zoo": zoo_config}
report = {name: compare(*SETTINGS[name]()) for name in sys.argv[1:] or SETTINGS}
print(json.dumps(report))
sys.stdout.flush()
