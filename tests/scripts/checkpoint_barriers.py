"""One of two processes: saves a checkpoint and a best checkpoint at each of 10 steps.

The two managers' saves overlap (each finishes in a background thread with a
cross-process barrier), as in a run whose evaluation improves the best metric
at a checkpoint step. Prints ``saved STEPS`` once every save finished.

Usage: python tests/scripts/checkpoint_barriers.py PORT PROCESS_ID WORKDIR
"""

import sys

from experiments import cli


def main(port: str, process_id: str, workdir: str) -> None:
  cli.init_distributed(f"127.0.0.1:{port}", 2, int(process_id))
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top  (after initialize)
  from gan_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from gan_jax.state import GANState  # pylint: disable=g-import-not-at-top
  latest, best = checkpoint.manager(workdir, 2), checkpoint.best_manager(workdir)
  for step in range(1, 11):
    state = GANState(step=jnp.int32(step), rng=jnp.zeros(2, jnp.uint32),
                     g={"w": jnp.arange(1000.0)}, d={})
    checkpoint.save(latest, state)
    checkpoint.save(best, state)
  latest.wait_until_finished()
  best.wait_until_finished()
  print("saved", latest.all_steps(), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
