"""Game-aware optimizers for two-player (GAN) training.

Player x (the generator) minimises ``loss_x(x, y)``, player y (the
discriminator) minimises ``loss_y(x, y)``; both are pytrees of float arrays.
Every optimizer is a ``GameOptimizer(init, step)`` of pure, jit-able
functions (see ``base``)::

    opt = gan_jax.games.get("cgd", lr=1e-2)
    state = opt.init(x, y)
    x, y, state, metrics = opt.step(loss_x, loss_y, x, y, state, reduce=reduce)

``names()`` lists the registered optimizers and ``defaults(name)`` their
hyperparameters.
"""

from gan_jax.games.base import GameOptimizer, identity
from gan_jax.games.cg import CGInfo, conjugate_gradient
from gan_jax.games.registry import defaults, get, names, register

__all__ = ["GameOptimizer", "identity", "CGInfo", "conjugate_gradient", "defaults", "get",
           "names", "register"]
