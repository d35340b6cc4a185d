"""A spec never borrows a decision from the machine it checks.

The conformance check is only worth something if the spec and the machine state each rule
separately: if the spec called the machine's ``certificate_is_valid``, a bug in it would be a bug
in the oracle too, and every step would still "conform". So this test reads every module of
``blockfsm.spec`` (its source, with ``ast``) and lists what it takes from ``blockfsm.machine``:

- the declarative modules (the specs, the language, conformance, rendering) may import classes
  (types, messages, events, effects, states) and constants, and nothing callable that is not a
  class, except the neutral names allow-listed below with the reason; they may not call the
  deciding methods of those classes (``Block.hash_is_valid``, ``ValidatorSet.quorum``, ...);
- the generators (``spec.strategies``, ``spec.campaigns``) drive the machine, so they may import
  its definitions and use its helpers to *build* inputs (signing an advertisement, certifying a
  block), but never a function whose job is to *judge* an input.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"

NEUTRAL_FUNCTIONS: dict[str, str] = {
    # The module path of each allowed callable, and why it cannot share a rule with the machine.
}

JUDGES = {
    # Functions of blockfsm.machine that judge an input: no spec module may import them, not even a
    # generator. Builders (payload bytes, block ids, certify, the shuffle) are allowed in the
    # generators: an input built with a wrong builder is refused by the spec's own restatement
    # while the machine accepts it, and conformance reports the disagreement.
    "certificate_is_valid",
    "update_candidate_common_section",
    "required_attestations",
    "misses_primary",
    # the producer's: who is selected, the thresholds, the NextRound quorum
    "child_selector",
    "selected_producer",
    "next_round_quorum",
    "primary_threshold",
    "fallback_threshold",
}

DECIDING_ATTRIBUTES = {
    # Methods and properties of machine classes that decide; the declarative specs restate them.
    "hash_is_valid",
    "quorum",
    "total_power",
    "power_of",
    "is_genesis",
    "move_by_round",
    "names",
}

PAIRING = {
    # Spec modules that import whole machine modules, and why that shares no rule.
    "machines.py": "names each machine's initial and step with its spec (MachineDef); it states "
    "no rule and decides nothing, and no other spec module imports it",
}

# Modules still importing a deciding function, each entry to disappear when it is restated in
# the spec. The producer's spec restates selection, thresholds and payload bytes in
# spec/producer_rules.py, so it has none left.
PENDING: dict[str, set[str]] = {}


def machine_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every name the file imports from blockfsm.machine."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("blockfsm.machine"):
            found.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("blockfsm.machine"):
                    found.append((alias.name, "*module*"))
    return found


def deciding_attribute_uses(path: Path) -> set[str]:
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in DECIDING_ATTRIBUTES
    }


def _rel(path: Path) -> str:
    return str(path.relative_to(SPEC))


GENERATOR_PACKAGES = ("strategies", "campaigns")
# Every other source file under spec/, the files of a machine's spec package (spec/sync_client/)
# included; spec/__init__.py only re-exports the language.
DECLARATIVE = sorted(
    p
    for p in SPEC.rglob("*.py")
    if p != SPEC / "__init__.py" and p.relative_to(SPEC).parts[0] not in GENERATOR_PACKAGES
)
GENERATORS = sorted(p for package in GENERATOR_PACKAGES for p in SPEC.glob(f"{package}/*.py"))


@pytest.mark.parametrize("path", DECLARATIVE, ids=_rel)
def test_declarative_spec_imports_only_types_and_constants(path: Path) -> None:
    pending = PENDING.get(_rel(path), set())
    offending = []
    for module, name in machine_imports(path):
        if name == "*module*":
            offending.append(f"import {module}")
            continue
        try:
            value = getattr(importlib.import_module(module), name)
        except AttributeError:  # a submodule not imported yet
            value = importlib.import_module(f"{module}.{name}")
        if inspect.ismodule(value):
            if _rel(path) not in PAIRING:
                offending.append(f"{module}.{name} (a whole machine module)")
            continue
        if inspect.isclass(value) or not callable(value):
            continue
        if name in NEUTRAL_FUNCTIONS or name in pending:
            continue
        offending.append(f"{module}.{name}")
    assert not offending, f"{_rel(path)} imports deciding functions: {offending}"
    uses = deciding_attribute_uses(path) - pending
    assert not uses, f"{_rel(path)} calls deciding methods of machine classes: {sorted(uses)}"


@pytest.mark.parametrize("path", GENERATORS, ids=_rel)
def test_generators_never_import_a_judge(path: Path) -> None:
    pending = PENDING.get(_rel(path), set())
    judges = {name for _, name in machine_imports(path) if name in JUDGES} - pending
    assert not judges, f"{_rel(path)} imports judges from the machine: {sorted(judges)}"


def test_pending_entries_are_still_needed() -> None:
    """An allow-list entry that is no longer used must be removed, so the list only shrinks."""
    for rel, names in PENDING.items():
        path = SPEC / rel
        used = {name for _, name in machine_imports(path)} | deciding_attribute_uses(path)
        stale = names - used
        assert not stale, f"{rel}: remove {sorted(stale)} from PENDING"


def test_the_scan_sees_a_deciding_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from blockfsm.machine.types import Block, certificate_is_valid\n"
        "def f(b):\n    return b.hash_is_valid()\n"
    )
    assert ("blockfsm.machine.types", "certificate_is_valid") in machine_imports(bad)
    assert deciding_attribute_uses(bad) == {"hash_is_valid"}
