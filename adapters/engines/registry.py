"""Where the engines find machines: the ``blockfsm.machines`` entry point group, and modules named
on the command line.

A package declares its machines by naming modules in its ``pyproject.toml``::

    [project.entry-points."blockfsm.machines"]
    lease = "my_package.lease_checks"

and each such module exposes what it has, by these names:

- ``MACHINE``: a ``MachineDef`` (its machine, with the spec that names it), or ``MACHINES``, a
  tuple of them, for ``replay`` and the ITF writer;
- ``CAMPAIGN``: a ``Campaign`` (``blockfsm.spec.campaigns``), for ``check``; its spec, and the
  specs it also runs (``Campaign.also``), are the pages ``spec render`` writes;
- ``SPEC`` or ``SPECS``: specs with no machine or campaign of their own here, for ``spec render``;
- ``SYSTEMS``: a mapping of system names to factories (each takes its parameters as keywords and
  returns an explorer ``System``), for ``explore`` and ``replay``; and ``EXPLORATIONS``, the
  explorations ``check`` runs: (system name, its parameters, the machines it checks) each.

Modules named with ``--module`` (``add_modules``) are read after the entry points, by every
command of the same run (the ITF reader and ``replay`` included).

blockfsm's own machines are found the same way: its ``pyproject.toml`` names their campaign
modules under the same group. Nothing is looked up by a machine's name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

GROUP = "blockfsm.machines"


class RegistryError(ValueError):
    """A declared module cannot be loaded, or two declare one machine name."""


_added: list[str] = []


def add_modules(names: Iterable[str]) -> None:
    """Also read the modules ``names`` (``--module``), after the entry points, from now on."""
    for name in names:
        if name not in _added:
            _added.append(name)


def added_modules() -> tuple[str, ...]:
    """The modules ``add_modules`` added (for a worker process to read them too)."""
    return tuple(_added)


def modules(extra: Iterable[str] = ()) -> list[ModuleType]:
    """The modules of every ``blockfsm.machines`` entry point, then those ``add_modules`` added,
    then each of ``extra``, in order (a module named twice is loaded once)."""
    names = [ep.value.split(":", 1)[0] for ep in sorted(entry_points(group=GROUP), key=_order)]
    names.extend(_added)
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
        except Exception as error:  # a user's module that fails while loading: one line
            raise RegistryError(
                f"machine module {name!r} failed to load: {type(error).__name__}: {error}"
            ) from None
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


def specs(extra: Sequence[str] = ()) -> list[tuple[Any, ModuleType]]:
    """Every declared spec with the module that declared it (its campaign's, a ``MACHINE``'s, a
    ``SPEC``'s, or a ``SystemSpec`` a ``SYSTEMS`` factory carries as ``spec``), each spec once, in
    the order the modules are read."""
    from blockfsm.spec.campaigns import Campaign
    from blockfsm.spec.language import MachineDef, MachineSpec
    from blockfsm.spec.system import SystemSpec

    found: list[tuple[Any, ModuleType]] = []
    seen: set[int] = set()
    for mod in modules(extra):
        candidates: list[Any] = []
        campaign = getattr(mod, "CAMPAIGN", None)
        if isinstance(campaign, Campaign):
            candidates.append(campaign.spec)
            candidates.extend(spec for spec, _ in campaign.also)
        for m in (getattr(mod, "MACHINE", None), *getattr(mod, "MACHINES", ())):
            if isinstance(m, MachineDef):
                candidates.append(m.spec)
        candidates.extend((getattr(mod, "SPEC", None), *getattr(mod, "SPECS", ())))
        candidates.extend(
            getattr(f, "spec", None) for f in dict(getattr(mod, "SYSTEMS", {})).values()
        )
        for spec in candidates:
            if isinstance(spec, MachineSpec | SystemSpec) and id(spec) not in seen:
                seen.add(id(spec))
                found.append((spec, mod))
    _unique(spec.name for spec, _ in found)
    return found


def systems(extra: Sequence[str] = ()) -> dict[str, Any]:
    """Every declared explorer system factory (a module's ``SYSTEMS``), by name."""
    found: dict[str, Any] = {}
    for mod in modules(extra):
        for name, factory in dict(getattr(mod, "SYSTEMS", {})).items():
            known = found.get(name)
            if known is not None and known is not factory:
                raise RegistryError(f"two declared modules name the system {name!r}")
            found[name] = factory
    return found


def explorations(extra: Sequence[str] = ()) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """Every declared exploration ``check`` runs (a module's ``EXPLORATIONS``), in order; each
    names a declared system."""
    known = systems(extra)
    found = []
    for mod in modules(extra):
        for name, parameters, checks in getattr(mod, "EXPLORATIONS", ()):
            if name not in known:
                raise RegistryError(f"{mod.__name__} explores the undeclared system {name!r}")
            found.append((name, dict(parameters), tuple(checks)))
    return found


def declared_in(spec: Any, fallback: ModuleType) -> tuple[str, str]:
    """The module that declares ``spec`` and its file, for the header of its rendered page.

    Of the loaded modules whose ``SPEC`` is ``spec`` (a campaign module often imports it), the
    one its guards and invariants are defined in (or the package holding them), else ``fallback``
    (the declared module that exposed it). The file is relative to the folder holding the
    module's top-level package, so the header is the same wherever the package is installed."""
    functions: list[Any] = [getattr(inv, "check", None) or inv.monitor for inv in spec.invariants]
    functions.extend(row.guard.holds for row in getattr(spec, "rows", ()) if row.guard is not None)
    functions.extend(getattr(lv, "holds", None) for lv in spec.liveness)
    defined = {getattr(f, "__module__", None) or "" for f in functions}
    holders = [
        m
        for m in list(sys.modules.values())
        if isinstance(m, ModuleType) and getattr(m, "SPEC", None) is spec
    ]

    def closeness(m: ModuleType) -> int:
        return max(
            (len(m.__name__) for d in defined if d == m.__name__ or d.startswith(m.__name__ + ".")),
            default=-1,
        )

    module = max(holders, key=closeness, default=fallback)
    if closeness(module) < 0 and fallback in holders:
        module = fallback
    return module.__name__, _relative_file(module)


def _relative_file(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    top = sys.modules.get(module.__name__.split(".", 1)[0])
    top_file = getattr(top, "__file__", None)
    if not file or not top_file:
        return ""
    root = Path(top_file).parent
    if Path(top_file).name == "__init__.py":
        root = root.parent
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).name
