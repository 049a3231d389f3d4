"""One run at a time per workdir, and a workdir that can be written.

The lock is ``fcntl.flock`` on the workdir directory itself: the kernel drops
it when its process ends, however it ends, so a lock left by a killed run is
simply taken over. ``WORKDIR/.lock`` only says which process holds it (its
pid); it is removed when the run ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from gan_jax.errors import UserError

LOCK_FILE = ".lock"
# (lock file or None, workdir this process created or None) of each lock held
# now, for release_held.
_HELD: list[tuple] = []
# What a run writes into its workdir; each that exists must be writable.
WRITTEN = ("config.json", "metrics.jsonl", "summary.json", "losses.png", "samples",
           "checkpoints", "tensorboard")


def _holder(workdir: str) -> str:
  """'process N' from the lock file, or 'another process' when it does not say."""
  try:
    with open(os.path.join(workdir, LOCK_FILE)) as f:
      pid = f.read().strip()
  except OSError:
    pid = ""
  return f"process {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def locked(workdir: str, enabled: bool = True) -> Iterator[None]:
  """Holds ``workdir``'s lock (creating the workdir if needed) for the block.

  A workdir the block created and left empty is removed again, so a run
  refused before writing anything leaves nothing behind.

  Raises:
    UserError: another live process holds the lock.
  """
  if not enabled:
    yield
    return
  created = not os.path.exists(workdir)
  os.makedirs(workdir, exist_ok=True)
  fd = os.open(workdir, os.O_RDONLY)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise UserError(f"workdir {workdir!r} is in use by {_holder(workdir)} (a run in it now); "
                      "wait for it to end, or use another --workdir") from None
    lock_path = os.path.join(workdir, LOCK_FILE) if os.access(workdir, os.W_OK) else None
    held = (lock_path, workdir if created else None)
    _HELD.append(held)
    try:  # From before the file exists: a Ctrl-C while it is written leaves none behind.
      if lock_path is not None:
        with open(lock_path, "w") as f:
          f.write(f"{os.getpid()}\n")
      yield
    finally:
      if held in _HELD:
        _HELD.remove(held)
        _tidy(*held)
  finally:
    os.close(fd)  # Releases the flock.


def _tidy(lock_path, created_workdir) -> None:
  if lock_path is not None:
    with contextlib.suppress(OSError):
      os.remove(lock_path)
  if created_workdir is not None:
    with contextlib.suppress(OSError):
      os.rmdir(created_workdir)  # Only if empty.


def release_held() -> None:
  """Tidies up after the locks held now, as their blocks' ends would: for an exit that skips them.

  ``os._exit`` (Ctrl-C during start-up) runs no ``finally``: this removes
  the lock files and the workdirs this process created and left empty. The
  flocks themselves go with the process.
  """
  while _HELD:
    _tidy(*_HELD.pop())


def check_creatable(workdir: str) -> None:
  """Refuses a workdir that is not a directory, or that cannot be created."""
  if os.path.exists(workdir):
    if not os.path.isdir(workdir):
      raise UserError(f"workdir {workdir!r} exists and is not a directory")
    return
  parent = os.path.dirname(os.path.abspath(workdir))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
    raise UserError(f"cannot create workdir {workdir!r}: {parent} is not writable "
                    "(no permission, or a read-only file system); choose another --workdir")


def check_writable(workdir: str) -> None:
  """Refuses an existing workdir (or a file a run rewrites in it) that cannot be written."""
  for name in ("", *WRITTEN):
    path = os.path.join(workdir, name) if name else workdir
    if os.path.exists(path) and not os.access(path, os.W_OK | (os.X_OK if os.path.isdir(path)
                                                             else 0)):
      raise UserError(f"workdir {workdir!r} is not writable ({path}: no permission, or a "
                      "read-only file system); nothing was changed; fix its permissions or "
                      "use another --workdir")
