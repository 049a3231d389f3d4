import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import run_python, xla_flags
from gan_jax import losses, train, train_step


@pytest.fixture
def setup(tiny_config):
  generator, discriminator, state = train.build(tiny_config, (28, 28, 1))
  step_fn = train_step.make_train_step(generator=generator, discriminator=discriminator,
                                       loss=losses.get(tiny_config.loss),
                                       latent_dim=tiny_config.latent_dim)
  return tiny_config, state, step_fn


def _batch(key, d_steps, batch_size):
  return {"image": jax.random.uniform(key, (d_steps, batch_size, 28, 28, 1), minval=-1, maxval=1)}


def test_step_compiles_once_and_updates(setup):
  config, state, step_fn = setup

  @jax.jit
  @chex.assert_max_traces(n=1)
  def jitted(state, batch):
    return step_fn(state, batch)

  initial = state
  for i in range(5):
    state, metrics = jitted(state, _batch(jax.random.PRNGKey(i), 1, config.batch_size))
  assert int(state.step) == 5 and int(state.d.step) == 5 and int(state.g.step) == 5
  assert float(metrics["finite"]) == 1.0
  for before, after in ((initial.g.params, state.g.params), (initial.d.params, state.d.params)):
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


def test_each_step_draws_fresh_noise(setup):
  config, state, step_fn = setup
  batch = _batch(jax.random.PRNGKey(0), 1, config.batch_size)
  _, m0 = step_fn(state, batch)
  _, m1 = step_fn(state.replace(step=state.step + 1), batch)
  # Same params and data, different step: different latents, so different losses.
  assert float(m0["g_loss"]) != float(m1["g_loss"])


def test_d_steps_per_g_step(setup):
  config, state, step_fn = setup
  new_state, _ = jax.jit(step_fn)(state, _batch(jax.random.PRNGKey(1), 3, config.batch_size))
  assert int(new_state.d.step) == 3 and int(new_state.g.step) == 1 and int(new_state.step) == 1


def test_latents_do_not_depend_on_sharding():
  key = jax.random.PRNGKey(3)
  whole = train_step.latents(key, 8, 4)
  halves = jnp.concatenate([train_step.latents(key, 4, 4, 0), train_step.latents(key, 4, 4, 4)])
  np.testing.assert_array_equal(whole, halves)
  assert len(np.unique(np.asarray(whole)[:, 0])) == 8


def test_fused_loop_compiles_once_over_calls(setup):
  config, state, step_fn = setup
  loop = train_step.make_train_loop(step_fn, global_batch=config.batch_size, d_steps=1,
                                    steps_per_call=4)
  loop = jax.jit(chex.assert_max_traces(loop, n=1), donate_argnums=(0,))
  images = jnp.zeros((32, 28, 28, 1), jnp.uint8)
  key = jax.random.PRNGKey(0)
  for _ in range(3):
    state, metrics = loop(state, {"image": images}, key)
  assert int(state.step) == 12
  np.testing.assert_array_equal(metrics["step"], [8, 9, 10, 11])


def test_shard_map_and_pmap_match_single_device_on_four_cpu_devices():
  result = run_python(["tests/scripts/pmap_equivalence.py"],
                      env_extra={"XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=4"),
                                 "PYTHONPATH": "."})
  assert result.returncode == 0, result.stderr[-3000:]
  import json
  by_setting = json.loads(result.stdout.strip().splitlines()[-1])
  reports = {f"{name}/{form}": report for name, forms in by_setting.items()
             for form, report in forms.items()}
  assert len(reports) == 4  # mlp, zoo x shard_map, pmap.
  for name, report in reports.items():
    assert report["devices"] == 4, name
    assert report["steps"] == [3, 3], name
    assert report["params_max_change"] > 1e-4, name  # Training moved the params...
    assert report["params_max_diff"] < 1e-5, name  # ...identically on 1 and 4 devices.
    assert report["metrics_max_diff"] < 1e-4, name
  # The zoo setting: synced BN in G and SN vectors in D move identically too,
  # and the lazy gradient penalty ran inside the pmapped step.
  for form in ("shard_map", "pmap"):
    zoo = reports[f"zoo/{form}"]
    assert zoo["stats_collections"] == ["batch_stats", "spectral"]
    assert zoo["stats_max_change"] > 1e-3 and zoo["stats_max_diff"] < 1e-5
    assert "d_penalty" in zoo["metric_names"]
