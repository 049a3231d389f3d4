"""One registry class for everything a config selects by name.

Losses, networks, regularizers, augmentations, optimizers, game optimizers
and feature extractors each keep one ``Registry``; a module adds its entries
when it is imported::

    from gan_jax import regularizers

    @regularizers.register("l2_logits")
    def l2_logits(critic, real, fake, keys, real_labels=None, fake_labels=None):
      ...

A run's ``config.imports`` names such modules (comma-separated); the
experiment commands import them (``import_modules``) before they check the
config, so ``--config.regularizer=l2_logits`` is accepted on the command line
and ``experiments.evaluate`` rebuilds the run.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Callable, Generic, Optional, TypeVar, Union, overload

from gan_jax.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
  """A name -> value map with one-line errors that list the known names.

  Attributes:
    kind: what the entries are, for messages ("loss", "regularizer", ...).
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: dict[str, T] = {}

  @overload
  def register(self, name: str, value: None = None, *,
               overwrite: bool = False) -> Callable[[T], T]: ...

  @overload
  def register(self, name: str, value: T, *, overwrite: bool = False) -> T: ...

  def register(self, name: str, value: Optional[T] = None, *,
               overwrite: bool = False) -> Union[T, Callable[[T], T]]:
    """Adds ``value`` under ``name``; without ``value``, a decorator that adds what it decorates.

    Args:
      name: the name configs select it by.
      value: the entry; None to use the call as a decorator
        (``@reg.register("name")``).
      overwrite: replace an existing entry of that name.

    Returns:
      ``value`` (or the decorator, which returns what it decorates unchanged).

    Raises:
      ValueError: ``name`` is already registered and ``overwrite`` is False.
      TypeError: ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name:
      raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
    if value is None:
      return lambda v: self.register(name, v, overwrite=overwrite)
    if name in self._entries and not overwrite:
      raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to "
                       "replace it")
    self._entries[name] = value
    return value

  def get(self, name: str) -> T:
    """The entry registered as ``name``.

    Raises:
      ValueError: no such entry; the message lists the known names.
    """
    try:
      return self._entries[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name.
      raise ValueError(self.unknown_message(name)) from None

  def unknown_message(self, name: str) -> str:
    """``unknown KIND 'name' (did you mean 'x'?); known: a, b, c``."""
    close = did_you_mean(name, self._entries) if isinstance(name, str) else ""
    return f"unknown {self.kind} {name!r}{close}; known: {', '.join(self.names())}"

  def names(self) -> list[str]:
    """The registered names, sorted."""
    return sorted(self._entries)

  def __contains__(self, name: object) -> bool:
    return isinstance(name, str) and name in self._entries

  def __repr__(self) -> str:
    return f"Registry({self.kind!r}: {', '.join(self.names())})"


# A dotted Python module name.
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_imports(imports: str) -> list[str]:
  """``config.imports`` (``"a, b.c"``) -> ``["a", "b.c"]``; ``""`` -> ``[]``.

  Raises:
    UserError: an entry that is not a dotted module name.
  """
  if not isinstance(imports, str):
    raise UserError(f"config.imports={imports!r} is not allowed; it must be a comma-separated "
                    "string of module names")
  modules = [m.strip() for m in imports.split(",") if m.strip()]
  for module in modules:
    if not _MODULE_NAME.match(module):
      raise UserError(f"config.imports: {module!r} is not a Python module name")
  return modules


def import_modules(imports: str) -> list[str]:
  """Imports each module of ``config.imports``, so their registrations take effect.

  Modules are found on ``sys.path`` (the working directory of ``python -m``
  and ``PYTHONPATH``). Importing one twice is a no-op.

  Returns:
    The module names, in order.

  Raises:
    UserError: a module cannot be found, or raised while it was imported; one
      line that names it.
  """
  modules = parse_imports(imports)
  for module in modules:
    if module in sys.modules:
      continue
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as e:
      if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
        raise UserError(f"config.imports: no module named {module!r} (is its directory on "
                        "PYTHONPATH?)") from None
      raise UserError(f"config.imports: module {module!r} failed to import: "
                      f"{type(e).__name__}: {_first_line(e)}") from None
    except Exception as e:  # pylint: disable=broad-except  (any error of the user's code)
      raise UserError(f"config.imports: module {module!r} failed to import: "
                      f"{type(e).__name__}: {_first_line(e)}") from None
  return modules


def _first_line(error: BaseException) -> str:
  return (str(error).strip().splitlines() or [""])[0]
