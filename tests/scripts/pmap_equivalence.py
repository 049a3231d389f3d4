"""Runs the fused training loop on 1 device and pmapped over all devices; prints max diffs.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=N set before jax is imported.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from experiments.configs import tiny
from gan_jax import losses, train, train_step

config = tiny.get_config()
config.d_steps_per_g_step = 2
images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), np.uint8))
generator, discriminator, state = train.build(config, (28, 28, 1))
data_key = jax.random.PRNGKey(7)
steps = 3


def run(axis):
  step_fn = train_step.make_train_step(generator=generator, discriminator=discriminator,
                                       loss=losses.get(config.loss), latent_dim=config.latent_dim,
                                       axis_name=axis)
  loop = train_step.make_train_loop(step_fn, global_batch=config.batch_size, d_steps=2,
                                    steps_per_call=steps, axis_name=axis)
  if axis is None:
    return jax.jit(loop)(state, images, data_key)
  out = jax.pmap(loop, axis_name=axis)(*train_step.replicate((state, images, data_key)))
  return train_step.unreplicate(out)


single_state, single_metrics = run(None)
multi_state, multi_metrics = run("batch")
diff = lambda a, b: max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
print(json.dumps({
    "devices": jax.local_device_count(),
    "params_max_diff": diff((single_state.g.params, single_state.d.params),
                            (multi_state.g.params, multi_state.d.params)),
    "params_max_change": diff((single_state.g.params, single_state.d.params),
                              (state.g.params, state.d.params)),
    "metrics_max_diff": diff(single_metrics, multi_metrics),
    "steps": [int(single_state.step), int(multi_state.step)],
}))
sys.stdout.flush()
