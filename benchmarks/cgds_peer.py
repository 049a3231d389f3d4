"""The CGDs package's BCGD and ACGD on the seed MLP game, for experiments.benchmark only.

CGDs (``pip install CGDs==0.4.5``, PyTorch) is the implementation of
competitive gradient descent that a PyTorch user would pick (Schafer's
group's package). Here it trains the same MLP pair as ``torch_gan.build_mlp``
on the zero-sum minimax value V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]
(D maximises, G minimises), fresh latents every step, exactly as many CG
iterations per step as gan_jax's benchmark row: its CG routines are called
with the iteration count fixed, no relative tolerance and an absolute one
below every positive float32 squared residual, so a solve stops early only
where its residual is exactly 0 (past that CG divides 0 by 0), as gan_jax's
does.
Warm starts on both sides cost one extra product for the initial residual
(BCGD counts that product as an iteration, so it gets one more).

Neither torch nor CGDs is a gan_jax dependency; nothing in gan_jax or its
tests imports this.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

OPTIMIZERS = {"cgd": "bcgd", "acgd": "acgd"}  # gan_jax name -> CGDs row name
_ATOL = 1e-45  # float32 squared residuals below this are 0: CG stops only there
# CG iterations each solve took (appended by the forced solvers), for the row.
ITERATIONS: list[int] = []


def _force_cg_iterations(cg_iters: int) -> None:
  """Makes CGDs' two CG solvers run exactly ``cg_iters`` iterations per call."""
  import CGDs.acgd  # pylint: disable=g-import-not-at-top
  import CGDs.cgd  # pylint: disable=g-import-not-at-top
  from CGDs import cgd_utils  # pylint: disable=g-import-not-at-top

  def bcgd_solver(*args, x=None, **kwargs):
    # BCGD spends one of nsteps on a warm start's initial residual.
    kwargs.update(nsteps=cg_iters + (x is not None), tol=0.0, atol=_ATOL)
    solution, iterations = cgd_utils.conjugate_gradient(*args, x=x, **kwargs)
    ITERATIONS.append(iterations)
    return solution, iterations

  def acgd_solver(*args, **kwargs):
    kwargs.update(nsteps=cg_iters, tol=0.0, atol=_ATOL)
    solution, iterations = cgd_utils.general_conjugate_gradient(*args, **kwargs)
    ITERATIONS.append(iterations)
    return solution, iterations

  CGDs.cgd.conjugate_gradient = bcgd_solver
  CGDs.acgd.general_conjugate_gradient = acgd_solver


def make_step(generator: torch.nn.Module, discriminator: torch.nn.Module, *, latent_dim: int,
              optimizer: str, cg_iters: int, lr: float) -> Callable[[torch.Tensor], torch.Tensor]:
  """One joint step of CGDs' ``optimizer`` ('cgd' -> BCGD, 'acgd' -> ACGD) on a real batch.

  Args:
    generator: the minimising player.
    discriminator: the maximising player (logits).
    latent_dim: size of z.
    optimizer: a key of ``OPTIMIZERS``.
    cg_iters: CG iterations per step, forced.
    lr: both players' learning rate.

  Returns:
    ``step(real) -> V`` (detached).
  """
  import CGDs  # pylint: disable=g-import-not-at-top
  _force_cg_iterations(cg_iters)
  players = dict(max_params=discriminator.parameters(), min_params=generator.parameters(),
                 lr_max=lr, lr_min=lr)
  if optimizer == "cgd":
    opt = CGDs.BCGD(**players, collect_info=False, device=torch.device("cpu"))
  elif optimizer == "acgd":
    opt = CGDs.ACGD(**players)
  else:
    raise ValueError(f"unknown optimizer {optimizer!r}; CGDs rows exist for "
                     f"{', '.join(OPTIMIZERS)}")

  def step(real: torch.Tensor) -> torch.Tensor:
    fake = generator(torch.randn(real.shape[0], latent_dim, device=real.device))
    value = (F.logsigmoid(discriminator(real)).mean()
             + F.logsigmoid(-discriminator(fake)).mean())
    opt.zero_grad()
    opt.step(value)
    return value.detach()

  return step
