"""Converts PyTorch FID Inception weights to the .npz that ``gan_jax.features.inception`` reads.

Usage (needs ``torch``; see gan_jax/features/inception.py for where the
weights come from)::

  python -m gan_jax.features.convert_inception pt_inception-2015-12-05-6726825d.pth \
      fid_inception.npz
"""

import sys

from absl import app

from gan_jax.errors import UserError
from gan_jax.features import inception


def main(argv):
  if len(argv) != 3:
    raise app.UsageError("usage: python -m gan_jax.features.convert_inception IN.pth OUT.npz")
  try:
    inception.convert_state_dict(argv[1], argv[2])
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"wrote {argv[2]}")


if __name__ == "__main__":
  app.run(main)
