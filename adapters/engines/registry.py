"""Where the engines find machines: the ``blockfsm.machines`` entry point group, and modules named
on the command line.

A package declares its machines by naming modules in its ``pyproject.toml``::

    [project.entry-points."blockfsm.machines"]
    lease = "my_package.lease_checks"

and each such module exposes what it has, by these names:

- ``MACHINE``: a ``MachineDef`` (its machine, with the spec that names it), or ``MACHINES``, a
  tuple of them, for ``replay`` and the ITF writer;
- ``CAMPAIGN``: a ``Campaign`` (``blockfsm.spec.campaigns``), for ``check``; its spec, and the
  specs it also runs (``Campaign.also``), are the pages ``spec render`` writes.

blockfsm's own machines are found the same way: its ``pyproject.toml`` names their campaign
modules under the same group. Nothing is looked up by a machine's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

GROUP = "blockfsm.machines"


class RegistryError(ValueError):
    """A declared module cannot be loaded, or two declare one machine name."""


def modules(extra: Iterable[str] = ()) -> list[ModuleType]:
    """The modules of every ``blockfsm.machines`` entry point, then each of ``extra``, in order
    (a module named twice is loaded once)."""
    names = [ep.value.split(":", 1)[0] for ep in sorted(entry_points(group=GROUP), key=_order)]
    names.extend(extra)
    found: list[ModuleType] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        try:
            found.append(importlib.import_module(name))
        except ImportError as error:
            raise RegistryError(f"cannot import machine module {name!r}: {error}") from None
    return found


def _order(ep: Any) -> tuple[int, str]:
    # blockfsm's own first, then every other distribution's, each group in name order
    own = ep.value.startswith("blockfsm.")
    return (0 if own else 1, ep.name)


def campaigns(extra: Sequence[str] = ()) -> list[Any]:
    """Every declared ``CAMPAIGN`` (``blockfsm.spec.campaigns.Campaign``)."""
    from blockfsm.spec.campaigns import Campaign

    found = [c for m in modules(extra) if isinstance(c := getattr(m, "CAMPAIGN", None), Campaign)]
    _unique(c.machine for c in found)
    return found


def machines(extra: Sequence[str] = ()) -> dict[str, Any]:
    """Every declared ``MACHINE`` (``MachineDef``), by name."""
    from blockfsm.spec.language import MachineDef

    found = [
        m
        for mod in modules(extra)
        for m in (getattr(mod, "MACHINE", None), *getattr(mod, "MACHINES", ()))
        if isinstance(m, MachineDef)
    ]
    _unique(m.name for m in found)
    return {m.name: m for m in found}


def _unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise RegistryError(f"two declared modules name the machine {name!r}")
        seen.add(name)
