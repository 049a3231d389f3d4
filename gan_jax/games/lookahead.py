"""Lookahead-minimax: slow weights for both players around any game optimizer.

Reference: Chavdarova, Pagliardini, Stich, Fleuret & Jaggi 2021, "Taming
GANs with Lookahead-Minimax", Algorithm 1 (LA-GAN / LA-minimax).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from gan_jax.games import base
from gan_jax.games.base import GameOptimizer, LossFn, OptState, Params, Reduce


class LookaheadState(NamedTuple):
  """The inner optimizer's state, both players' slow weights and a counter.

  ``slow_x`` and ``slow_y`` are the weights Lookahead-minimax evaluates and
  keeps; the parameters that ``step`` returns are the fast weights, equal to
  the slow ones right after a synchronisation (every k-th step).
  """

  inner: OptState
  slow_x: Params
  slow_y: Params
  count: jax.Array  # int32 number of steps taken.


def lookahead(inner: Union[str, GameOptimizer] = "simultaneous_gda", k: int = 5,
              alpha: float = 0.5,
              inner_hparams: Optional[Mapping[str, Any]] = None) -> GameOptimizer:
  """Wraps a game optimizer in Lookahead-minimax.

  The inner optimizer moves the fast weights of both players every step.
  Every ``k`` steps both players' slow weights move a fraction ``alpha`` of
  the way to the fast weights, ``slow <- slow + alpha (fast - slow)``, and the
  fast weights are reset to the new slow weights. The inner optimizer's state
  (e.g. Adam moments) is kept across the reset. The synchronisation is a
  ``jnp.where`` on a step counter in the state, so ``step`` stays jit-able.

  Args:
    inner: a GameOptimizer, or the registered name of one.
    k: synchronisation period, >= 1.
    alpha: slow-weight step, in (0, 1]; 1 gives the inner optimizer alone.
    inner_hparams: hyperparameters for ``inner`` when it is a name (its
      learning rates may be optax schedules, counted in inner steps).

  Returns:
    A GameOptimizer whose state is a LookaheadState. Metrics are the inner
    optimizer's plus ``lookahead_synced`` (1.0 on synchronisation steps).

  References:
    Chavdarova et al. 2021, Algorithm 1.
  """
  k = base.check_int("lookahead", "k", k, 1)
  alpha = base.check_interval("lookahead", "alpha", alpha, 0.0, 1.0, include_low=False,
                              include_high=True)
  if inner_hparams is not None and not hasattr(inner_hparams, "keys"):  # dict-like
    raise ValueError(f"lookahead: inner_hparams must be a dict of hyperparameters, "
                     f"got {type(inner_hparams).__name__}")
  if isinstance(inner, str):
    from gan_jax.games import registry  # pylint: disable=g-import-not-at-top
    inner = registry.get(inner, **dict(inner_hparams or {}))
  elif not isinstance(inner, GameOptimizer):
    raise ValueError(f"lookahead: inner must be a GameOptimizer or a registered name, "
                     f"got {type(inner).__name__}")
  elif inner_hparams:
    raise ValueError("lookahead: inner_hparams only applies when inner is a name")

  def init(x: Params, y: Params) -> LookaheadState:
    # Copies, not the parameter arrays themselves: a train step that donates
    # its state would otherwise donate the same buffer twice.
    copy = lambda tree: jax.tree.map(jnp.copy, tree)
    return LookaheadState(inner.init(x, y), copy(x), copy(y), jnp.zeros((), jnp.int32))

  def step(loss_x: LossFn, loss_y: LossFn, x: Params, y: Params, state: LookaheadState,
           reduce: Reduce = base.identity):
    fast_x, fast_y, inner_state, metrics = inner.step(
        loss_x, loss_y, x, y, state.inner, reduce=reduce)
    count = state.count + 1
    sync = count % k == 0
    pull = lambda slow, fast: jax.tree.map(lambda s, f: s + alpha * (f - s), slow, fast)
    slow_x = base.tree_where(sync, pull(state.slow_x, fast_x), state.slow_x)
    slow_y = base.tree_where(sync, pull(state.slow_y, fast_y), state.slow_y)
    fast_x = base.tree_where(sync, slow_x, fast_x)
    fast_y = base.tree_where(sync, slow_y, fast_y)
    metrics = dict(metrics, lookahead_synced=sync.astype(jnp.float32))
    return fast_x, fast_y, LookaheadState(inner_state, slow_x, slow_y, count), metrics

  return GameOptimizer(init, step)
