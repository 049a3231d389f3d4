"""Why ACGD on the saturating minimax loss collapses: the coupling and D(G(z)) along a run.

    python -m benchmarks.acgd_collapse --loss minimax --lr 2e-4
    python -m benchmarks.acgd_collapse --loss minimax --lr 2e-4 --no_competition
    python -m benchmarks.acgd_collapse --loss non_saturating --lr 1e-3

Trains the seed MLP GAN on mnist_5k with ACGD (5 CG iterations, tolerance
1e-4, zero-sum curvature) and prints, at a few steps, on a fixed batch of 256
real images and latents: the mean D(G(z)), the spectral norm of the coupling
C = eta_x^1/2 D2xy f eta_y^1/2 (30 power iterations on C^T C), the median and
largest of ACGD's per-coordinate step sizes eta_x for G, G's gradient norm
and step norm. ``--no_competition`` sets every mixed Hessian-vector product
to zero, which turns ACGD into simultaneous RMSprop on the same loss and
step sizes. Results: docs/results.md#game-optimizers.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp

from experiments.configs import acgd as acgd_config
from gan_jax import data, games, losses, train
from gan_jax import train_step as train_step_lib
from gan_jax.games import base
from gan_jax.games import cgd as cgd_lib
from gan_jax.games import derivatives

REPORT_STEPS = (50, 100, 200, 400, 700, 1000, 1500)


def _without_competition(loss, x, y, reduce=base.identity):
  """Mixed Hessian-vector products that are zero: ACGD becomes simultaneous RMSprop."""
  del loss, reduce
  return (lambda v: base.tree_zeros_like(x)), (lambda v: base.tree_zeros_like(y))


def coupling_report(config, generator, discriminator, real, z):
  """A jitted function of the state: the quantities the module docstring lists."""
  loss = losses.get(config.loss)
  hparams = {**games.defaults("acgd"), **config.game_hparams.to_dict()}
  beta2, eps, lr = hparams["beta2"], hparams["eps"], hparams["lr"]

  @jax.jit
  def report(state):
    x, y, game = state.g.params, state.d.params, state.game
    f = lambda g, d: loss.g_loss(discriminator.apply(d, real),
                                 discriminator.apply(d, generator.apply(g, z)))
    correction = 1 - beta2 ** game.count.astype(jnp.float32)
    eta = lambda nu: jax.tree.map(lambda n: lr / (jnp.sqrt(n / correction) + eps), nu)
    root_x = jax.tree.map(jnp.sqrt, eta(game.nu_x))
    root_y = jax.tree.map(jnp.sqrt, eta(game.nu_y))
    hxy, hyx = derivatives.linearized_mixed_hvps(f, x, y)

    def normal(v):  # C^T C v
      c_v = base.tree_mul(root_x, hxy(base.tree_mul(root_y, v)))
      return base.tree_mul(root_y, hyx(base.tree_mul(root_x, c_v)))

    def power(v, _):
      w = normal(v)
      norm = base.tree_norm(w)
      return base.tree_scale(1 / norm, w), norm

    v0 = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(1), p.shape), y)
    _, norms = jax.lax.scan(power, base.tree_scale(1 / base.tree_norm(v0), v0), None, length=30)
    etas = jnp.concatenate([e.ravel() for e in jax.tree.leaves(eta(game.nu_x))])
    fake_logits = discriminator.apply(y, generator.apply(x, z))
    return {"d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)), "coupling": jnp.sqrt(norms[-1]),
            "eta_x_median": jnp.median(etas), "eta_x_max": jnp.max(etas)}

  return report


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--loss", default="minimax")
  parser.add_argument("--lr", type=float, default=2e-4)
  parser.add_argument("--no_competition", action="store_true")
  args = parser.parse_args(argv)
  config = acgd_config.get_config()
  config.loss, config.game_hparams.lr = args.loss, args.lr
  if args.no_competition:
    cgd_lib.linearized_mixed_hvps = _without_competition
  dataset = data.load(config.dataset)
  generator, discriminator, state = train.build(config, dataset.image_shape)
  loop = train._compiled_loop(config, generator, discriminator, None)  # pylint: disable=protected-access
  data_key, _, _ = train.run_keys(config.seed)
  images = jax.device_put(dataset.images)
  real = data.to_float(dataset.images[:256])
  z = train_step_lib.latents(jax.random.PRNGKey(7), 256, config.latent_dim)
  report = coupling_report(config, generator, discriminator, real, z)
  state, step = jax.device_put(state), 0
  print("step  D(G(z))  ||C||_2  eta_x median  eta_x max  G grad norm  G step norm")
  for target in REPORT_STEPS:
    while step < target:
      state, metrics = loop(state, images, data_key)
      step += config.steps_per_call
    r = {k: float(v) for k, v in report(state).items()}
    print(f"{step:5d}  {r['d_fake']:.3g}  {r['coupling']:.3g}  {r['eta_x_median']:.3g}  "
          f"{r['eta_x_max']:.3g}  {float(metrics['g_grad_norm'][-1]):.3g}  "
          f"{float(metrics['step_norm_x'][-1]):.3g}", flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
