"""Times the two stride-1 convolution implementations (``config.conv_impl``).

``python -m benchmarks.conv_timing [--batch 64] [--repeats 10]``

For the convolutions of the 28x28 DCGAN at width 64 (G's two 3x3 sub-pixel
convs; D's two 4x4 stride-2 convs, which both compute on 2x2 blocks of the
input) it times, per ``CONV_IMPLS`` entry, the
gradient of a scalar function in both the input and the kernel: called
directly, and as two dependent iterations of a ``lax.scan`` (where the
training loop runs it). Prints one line per case and a JSON summary of
median milliseconds. On XLA's CPU backend the "xla" kernel gradient inside
a loop is the slow case that made "matmul" the default.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.networks import layers

# (name, input [H, W, C] after padding, kernel [kh, kw, in, out], stride).
_CASES = (
    ("G 7x7 128->4*64, 3x3", (9, 9, 128), (3, 3, 128, 256), 1),
    ("G 14x14 64->4*1, 3x3", (16, 16, 64), (3, 3, 64, 4), 1),
    ("D 28x28 1->64, 4x4/2", (30, 30, 1), (4, 4, 1, 64), 2),
    ("D 14x14 64->128, 4x4/2", (16, 16, 64), (4, 4, 64, 128), 2),
)


def _timed(fn, args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))  # Compile.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def _grad_fns(conv, stride):
  grad = jax.grad(lambda x, k: jnp.sum(jax.nn.softplus(conv(x, k, stride))), argnums=(0, 1))

  def in_scan(x, k):
    # Dependent iterations, so XLA cannot hoist the gradient out of the loop.
    body = lambda carry, _: (jax.tree.map(lambda a, g: a - 1e-3 * g, carry, grad(*carry)), None)
    return jax.lax.scan(body, (x, k), None, length=2)[0]

  return jax.jit(grad), jax.jit(in_scan)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  results = {}
  for name, x_shape, k_shape, stride in _CASES:
    x = jax.random.normal(jax.random.PRNGKey(0), (args.batch,) + x_shape)
    k = 0.05 * jax.random.normal(jax.random.PRNGKey(1), k_shape)
    for impl in layers.conv_impl_names():
      direct, in_scan = _grad_fns(layers.conv_impl(impl), stride)
      row = {"grad_ms": _timed(direct, (x, k), args.repeats),
             "grad_in_scan_per_iter_ms": _timed(in_scan, (x, k), args.repeats) / 2}
      results[f"{name} / {impl}"] = row
      print(f"{name:24s} {impl:7s} gradient {row['grad_ms']:8.2f} ms, inside lax.scan "
            f"{row['grad_in_scan_per_iter_ms']:8.2f} ms per iteration (batch {args.batch})",
            flush=True)
  print(json.dumps({"backend": jax.default_backend(), "median_ms": results}))


if __name__ == "__main__":
  main()
