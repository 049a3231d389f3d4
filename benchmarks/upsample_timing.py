"""Times the DCGAN generator's forward+backward pass for each upsampling layer.

``python -m benchmarks.upsample_timing [--batch 64] [--width 64] [--repeats 20]``

For each ``config.upsample`` choice (``gan_jax.networks.layers.UPSAMPLERS``)
and image size (28x28x1, 32x32x3) it jit-compiles the gradient of a scalar
function of G's train-mode output in G's parameters (the work G does in a
generator update, without D), then prints the median wall time of
``--repeats`` calls, interleaving the choices so that a busy machine slows
them alike. Timings, and why the fastest here (``transpose``) is not the
default, are in benchmarks/README.md ("DCGAN generator upsampling").
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.networks import dcgan, layers


def _timed_fn(upsample: str, image_shape: tuple[int, int, int], batch: int, width: int,
              latent_dim: int):
  generator = dcgan.DCGANGenerator(image_shape=image_shape, width=width, upsample=upsample)
  z = jax.random.normal(jax.random.PRNGKey(0), (batch, latent_dim))
  variables = generator.init(jax.random.PRNGKey(1), z)

  @jax.jit
  def forward_backward(params):
    def objective(p):
      images, _ = generator.apply({**variables, "params": p}, z, train=True,
                                  mutable=["batch_stats"])
      return jnp.mean(jnp.square(images))
    return jax.grad(objective)(params)

  params = variables["params"]
  jax.block_until_ready(forward_backward(params))  # Compile.
  return lambda: jax.block_until_ready(forward_backward(params))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--width", type=int, default=64)
  parser.add_argument("--latent_dim", type=int, default=100)
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  results = {}
  for image_shape in ((28, 28, 1), (32, 32, 3)):
    fns = {name: _timed_fn(name, image_shape, args.batch, args.width, args.latent_dim)
           for name in layers.upsample_names()}
    times = {name: [] for name in fns}
    for _ in range(args.repeats):
      for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - start)
    size = "x".join(map(str, image_shape))
    for name, values in times.items():
      results[f"{size}/{name}"] = 1e3 * float(np.median(values))
      print(f"{size:8s} {name:10s} median {results[f'{size}/{name}']:8.2f} ms  "
            f"(min {1e3 * min(values):.2f} ms) per forward+backward, batch {args.batch}, "
            f"width {args.width}", flush=True)
  print(json.dumps({"backend": jax.default_backend(), "median_ms": results}))


if __name__ == "__main__":
  main()
