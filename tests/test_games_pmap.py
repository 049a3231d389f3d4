"""A pmapped step on a split batch equals the single-device step on the batch.

The check runs in a child process that sets
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before importing jax,
so this process's jax (one CPU device) is left as it is.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from conftest import xla_flags

REPO = pathlib.Path(__file__).resolve().parents[1]

_CHILD = r'''
import json
import jax
import jax.numpy as jnp
import numpy as np
import gan_jax.games as games

assert jax.local_device_count() == 4, jax.devices()
N_DEV, BATCH = 4, 8
rng = np.random.default_rng(0)
real = jnp.asarray(rng.normal(size=(BATCH, 2)) + 1.0, jnp.float32)
noise = jnp.asarray(rng.normal(size=(BATCH, 2)), jnp.float32)
X0 = {"w": jnp.array([[0.8, 0.1], [-0.3, 1.1]]), "b": jnp.array([0.2, -0.1])}
Y0 = {"w": jnp.array([0.5, -0.7]), "c": jnp.array(0.1)}


def disc(y, u):
  return jnp.tanh(u @ y["w"]) + y["c"]


def gen(x, z):
  return z @ x["w"].T + x["b"]


# Every loss is a mean over the batch, so the mean of the four shards' losses
# is the whole batch's loss.
def wgan_x(batch):
  r, z = batch
  return lambda x, y: jnp.mean(disc(y, r)) - jnp.mean(disc(y, gen(x, z)))


def wgan_y(batch):
  f = wgan_x(batch)
  return lambda x, y: -f(x, y)


def ls_x(batch):  # least-squares GAN: general-sum
  _, z = batch
  return lambda x, y: 0.5 * jnp.mean((disc(y, gen(x, z)) - 1.0) ** 2)


def ls_y(batch):
  r, z = batch
  return lambda x, y: 0.5 * (jnp.mean((disc(y, r) - 1.0) ** 2)
                             + jnp.mean(disc(y, gen(x, z)) ** 2))


CASES = {
    "cgd": ("cgd", dict(lr=0.5, cg_tol=1e-6), wgan_x, wgan_y),
    "cgd_general_sum": ("cgd", dict(lr=0.5, cg_tol=1e-6, zero_sum=False), ls_x, ls_y),
    "acgd": ("acgd", dict(lr=0.05, cg_tol=1e-6), wgan_x, wgan_y),
    "simultaneous_gda": ("simultaneous_gda", dict(lr_x=0.1, lr_y=0.1), ls_x, ls_y),
    "extra_adam": ("extra_adam", dict(lr_x=0.01, lr_y=0.01), ls_x, ls_y),
    "consensus": ("consensus", dict(lr_x=0.1, lr_y=0.1, gamma=0.5), ls_x, ls_y),
    "sga": ("sga", dict(lr_x=0.1, lr_y=0.1), ls_x, ls_y),
    "unrolled": ("unrolled", dict(lr_x=0.1, lr_y=0.1, unroll_steps=3), ls_x, ls_y),
}

pmean = lambda t: jax.lax.pmean(t, "batch")
shards = jax.tree.map(lambda a: a.reshape((N_DEV, BATCH // N_DEV) + a.shape[1:]), (real, noise))
out = {}
for case, (name, hparams, make_x, make_y) in CASES.items():
  opt = games.get(name, **hparams)

  def single(x, y, state, batch):
    return opt.step(make_x(batch), make_y(batch), x, y, state)

  def parallel(x, y, state, batch):
    return opt.step(make_x(batch), make_y(batch), x, y, state, reduce=pmean)

  single = jax.jit(single)
  parallel = jax.pmap(parallel, axis_name="batch", in_axes=(None, None, None, 0))
  xs, ys, ss = X0, Y0, opt.init(X0, Y0)
  xp, yp, sp = X0, Y0, opt.init(X0, Y0)
  for _ in range(2):  # the second step uses the state (warm starts, moments)
    xs, ys, ss, ms = single(xs, ys, ss, (real, noise))
    xp, yp, sp, mp = parallel(xp, yp, sp, shards)
    spread = max(float(jnp.max(jnp.abs(a - a[0]))) for a in jax.tree.leaves((xp, yp, sp, mp)))
    xp, yp, sp, mp = jax.tree.map(lambda a: a[0], (xp, yp, sp, mp))
  flat = lambda t: [float(v) for a in jax.tree.leaves(t) for v in np.ravel(np.asarray(a))]
  out[case] = {"single": flat((xs, ys, ss)), "pmap": flat((xp, yp, sp)),
               "metrics_single": {k: float(v) for k, v in ms.items()},
               "metrics_pmap": {k: float(v) for k, v in mp.items()},
               "device_spread": spread}
print("RESULT" + json.dumps(out))
'''


def test_pmap_step_matches_single_device(tmp_path):
  script = tmp_path / "pmap_child.py"
  script.write_text(_CHILD)
  env = dict(os.environ, XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=4"))
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
  proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  results = json.loads(line[len("RESULT"):])
  assert {"cgd", "simultaneous_gda"} <= set(results)
  for case, r in results.items():
    single, parallel = np.array(r["single"]), np.array(r["pmap"])
    assert single.shape == parallel.shape and single.size > 0, case
    np.testing.assert_allclose(parallel, single, rtol=1e-5, atol=1e-5, err_msg=case)
    assert r["device_spread"] < 1e-6, case  # every device holds the same result
    for key, value in r["metrics_single"].items():
      if key == "cg_iterations":  # may differ by one near the tolerance
        assert abs(r["metrics_pmap"][key] - value) <= 1, case
      elif key != "cg_relative_residual":
        np.testing.assert_allclose(r["metrics_pmap"][key], value, rtol=1e-4, atol=1e-5,
                                   err_msg=f"{case}: {key}")
  # The competitive step really used CG (not a trivial system).
  assert results["cgd"]["metrics_single"]["cg_iterations"] >= 2
