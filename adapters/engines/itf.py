"""The Informal Trace Format (ITF): the one place where blockfsm values become ITF values and back.

ITF is the JSON that Apalache and Quint write for traces (format described in Apalache's ADR-015,
"Informal Trace Format in JSON", and in the Quint repository). A trace is an object with ``#meta``
(free-form), ``vars`` (the names of the state variables) and ``states`` (one object per state,
mapping every variable to a value). Values are JSON where JSON can hold them, and otherwise:

========================  ==========================================================
Python                    ITF value
========================  ==========================================================
``bool``, ``str``         JSON ``true``/``false``, JSON string
``int``                   JSON number when ``|n| < 2**53``, else ``{"#bigint": "n"}``
``tuple``                 ``{"#tup": [...]}``
``list``                  JSON array (an ITF list)
``frozenset``/``set``     ``{"#set": [...]}`` (elements in canonical order)
``dict``                  ``{"#map": [[k, v], ...]}`` (entries in canonical order)
``bytes``                 ``{"tag": "Bytes", "value": "<hex>"}``
``float`` (garbage only)   ``{"tag": "Float", "value": "<float.hex()>"}``
``None``                  ``{"tag": "None", "value": {"#tup": []}}`` (Quint's ``None``)
an attrs instance         ``{"tag": "<module>.<class>", "value": {<init field>: <value>, ...}}``
``Ed25519Signer``         ``{"tag": "Ed25519Signer", "value": {"seed": <bytes>}}``
anything else             ``{"#unserializable": "<type>: <repr>"}`` (garbage inputs)
========================  ==========================================================

Attrs instances (states, events, effects, messages, blocks, certificates, configs) are encoded as
Quint-style variants: the tag is the class qualified by its module (``blockfsm.machine.core.Tick``,
``traffic_light.machine.Light``), the value a record of the fields the class's ``__init__`` takes
(so ``decode`` can rebuild the instance). A user's classes and blockfsm's never share a tag, and a
trace names the module to import to read it back. A qualified tag that names no importable attrs
class is an error (``ITFError``), never a silent stand-in; so is one whose module is neither
blockfsm's nor in the package of a declared machine module (reading a trace never imports
anything else).

Traces written before tags were qualified carry the bare class name: a bare tag is looked up among
blockfsm's own classes (every module of ``blockfsm.machine``, those of its packages included, and
the modules added by ``register_module``; a name defined twice there is a programmer error,
reported at the first lookup). A record (a JSON object with no ``#`` key and no tag) decodes to a
``dict`` of its fields, and a bare tag that is not one of ours to a ``Variant``: that is how traces
written by Quint read (Quint's tags never contain a dot). ``decode(..., strict=True)``, used for
blockfsm's own traces, refuses a bare tag that is not one of ours.

``canonical(value)`` is the one canonical byte encoding of a value (sorted keys, sets and maps in
canonical order): the explorer deduplicates states by it, because ``hash()`` is salted per process.

A trace of one machine (``MachineTrace``) is what ``blockfsm check`` writes for a counterexample
and ``blockfsm replay`` reads. Its variables, per state: ``state`` (the machine state after the
step), ``event`` (the event of the step, ``None`` in state 0), ``view`` (the chain view the step
read), ``effects`` (the list of effects) and ``mbt::actionTaken`` (the event's class name, the
name Quint's ``--mbt`` uses). The machine name, its config and the violation (property, message,
step) are in ``#meta``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

JSON = Any
SAFE_INT = 2**53
FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"


class ITFError(ValueError):
    """A value cannot be encoded in ITF, or an ITF document is not one blockfsm can read."""


@attrs.frozen
class Variant:
    """A variant whose tag is not a blockfsm class (as Quint writes sum types)."""

    tag: str
    value: Any


@attrs.frozen
class Unserializable:
    """A value ITF could not hold (``{"#unserializable": text}``), read back: an opaque object."""

    text: str


# --- the class registry ------------------------------------------------------------------------

_registry: dict[str, type] | None = None
_extra_modules: list[str] = []


def register_module(name: str) -> None:
    """Also look up tags in module ``name`` (e.g. a simulator's own event classes)."""
    global _registry
    if name not in _extra_modules:
        _extra_modules.append(name)
        _registry = None


def _classes() -> dict[str, type]:
    global _registry
    if _registry is not None:
        return _registry
    import blockfsm.machine as machine_package

    # Every module, those inside the machine packages (machine/attester/, ...) included.
    names = [
        info.name
        for info in pkgutil.walk_packages(machine_package.__path__, prefix="blockfsm.machine.")
    ]
    found: dict[str, type] = {}
    for module_name in sorted(names) + _extra_modules:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module_name:
                known = found.get(value.__name__)
                if known is not None and known is not value:
                    raise ITFError(
                        f"class name {value.__name__} is defined in {known.__module__} and "
                        f"{module_name}: ITF tags must be unique"
                    )
                found[value.__name__] = value
    _registry = found
    return found


_tags: dict[type, str] = {}


def tag_of(cls: type) -> str:
    """The ITF tag of an attrs class: its module and qualified name."""
    tag = _tags.get(cls)
    if tag is None:
        tag = _tags[cls] = f"{cls.__module__}.{cls.__qualname__}"
    return tag


def _qualified(tag: str) -> type:
    """The attrs class a qualified tag names (a class of blockfsm's that moved is found by its
    bare name); ``ITFError`` in one line when there is none."""
    module_name, _, name = tag.rpartition(".")
    cls: Any = None
    if not _trusted(module_name):
        raise ITFError(
            f"unknown ITF tag {tag!r}: {module_name} is neither blockfsm's nor in a package of a "
            "declared machine module (declare it, or name it with --module)"[:300]
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        reason = f"module {module_name} cannot be imported ({error})"
    else:
        cls = module
        for part in name.split("."):
            cls = getattr(cls, part, None)
        reason = f"module {module_name} has no attrs class {name}"
    if not (isinstance(cls, type) and attrs.has(cls)) and module_name.startswith("blockfsm."):
        cls = _classes().get(name.rpartition(".")[2])
    if isinstance(cls, type) and attrs.has(cls):
        return cls
    raise ITFError(f"unknown ITF tag {tag!r}: {reason}"[:300])


def _trusted(module_name: str) -> bool:
    """Reading a trace imports only blockfsm's modules and those of the packages that declare
    machines (entry points, ``--module``, ``register_module``): a trace names data, not code to
    load."""
    top = module_name.split(".", 1)[0]
    if top == "blockfsm" or any(m.split(".", 1)[0] == top for m in _extra_modules):
        return True
    from blockfsm.adapters.engines.registry import RegistryError, modules

    try:
        declared = modules()
    except RegistryError:
        return False
    return any(m.__name__.split(".", 1)[0] == top for m in declared)


# --- encode ------------------------------------------------------------------------------------


def _sort_key(encoded: JSON) -> str:
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"))


# Blocks and certificates recur in every state of a run (the explorer encodes each state it
# visits): their encodings are kept, keyed by the (frozen, compared field by field) value itself.
# Callers never mutate an encoding.
_MEMO_CLASSES = frozenset({"Block", "Certificate"})
_MEMO_LIMIT = 50_000
_memo: dict[Any, JSON] = {}


def encode(value: Any) -> JSON:
    """The ITF value of ``value`` (``{"#unserializable": ...}`` for a value with no ITF form)."""
    kind = type(value)
    if kind is bool or kind is str:
        return value
    if kind is int:
        return value if -SAFE_INT < value < SAFE_INT else {"#bigint": str(value)}
    if kind is bytes:
        return {"tag": "Bytes", "value": value.hex()}
    if kind is float:
        return {"tag": "Float", "value": value.hex()}
    if value is None:
        return {"tag": "None", "value": {"#tup": []}}
    if kind is tuple:
        return {"#tup": [encode(v) for v in value]}
    if kind is list:
        return [encode(v) for v in value]
    if kind is frozenset or kind is set:
        return {"#set": sorted((encode(v) for v in value), key=_sort_key)}
    if kind is dict:
        entries = [[encode(k), encode(v)] for k, v in value.items()]
        return {"#map": sorted(entries, key=lambda e: _sort_key(e[0]))}
    if kind is Variant:
        return {"tag": value.tag, "value": encode(value.value)}
    if kind is Unserializable:
        return {"#unserializable": value.text}
    if kind.__name__ == "Ed25519Signer":
        return {"tag": "Ed25519Signer", "value": {"seed": encode(bytes(value._key))}}
    if attrs.has(kind):
        memo = kind.__name__ in _MEMO_CLASSES
        if memo:
            known = _memo.get(value)
            if known is not None:
                return known
        record = {}
        for field in attrs.fields(kind):
            if field.init:
                record[field.alias] = encode(getattr(value, field.name))
        encoded = {"tag": tag_of(kind), "value": record}
        if memo:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[value] = encoded
        return encoded
    # ITF's form for a value it cannot hold: garbage inputs in tests (an arbitrary object where a
    # message should be) still make a readable trace; it decodes to an ``Unserializable``.
    # A default repr names a memory address, which differs per process: drop it, so the
    # encoding stays canonical.
    text = _ADDRESS.sub("", f"{kind.__name__}: {value!r}")
    return {"#unserializable": text[:200]}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def canonical(value: Any) -> bytes:
    """The canonical bytes of ``value``: equal values, equal bytes, in every process.

    ``encode`` already builds every JSON object in one order (a record's fields in declaration
    order, ``tag`` before ``value``, sets and maps sorted), so the keys need no sorting here: this
    is on the explorer's hot path, once per state visited."""
    return _CANONICAL.encode(encode(value)).encode()


_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False)


# --- decode ------------------------------------------------------------------------------------


def decode(item: JSON, *, strict: bool = False) -> Any:
    """The Python value of an ITF value (the inverse of ``encode``).

    With ``strict``, a bare tag that is not one of blockfsm's classes is an ``ITFError`` rather
    than a ``Variant`` (blockfsm's own traces carry no foreign variants)."""
    if isinstance(item, bool | str):
        return item
    if isinstance(item, int):
        return item
    if isinstance(item, list):
        return [decode(v, strict=strict) for v in item]
    if not isinstance(item, dict):
        raise ITFError(f"not an ITF value: {item!r}"[:200])
    if len(item) == 1:
        ((key, inner),) = item.items()
        if key == "#bigint":
            return int(inner)
        if key == "#tup":
            return tuple(decode(v, strict=strict) for v in inner)
        if key == "#set":
            return frozenset(decode(v, strict=strict) for v in inner)
        if key == "#map":
            return {decode(k, strict=strict): decode(v, strict=strict) for k, v in inner}
        if key == "#unserializable":
            return Unserializable(str(inner))
    if set(item) == {"tag", "value"} and isinstance(item["tag"], str):
        return _decode_variant(item["tag"], item["value"], strict)
    if any(key.startswith("#") for key in item):
        raise ITFError(f"unknown ITF form: {sorted(item)}")
    return {key: decode(v, strict=strict) for key, v in item.items()}


def _decode_variant(tag: str, value: JSON, strict: bool) -> Any:
    if tag == "Bytes" and isinstance(value, str):
        return bytes.fromhex(value)
    if tag == "None" and value == {"#tup": []}:
        return None
    if tag == "Float" and isinstance(value, str):
        return float.fromhex(value)
    if tag == "Ed25519Signer":
        from blockfsm.adapters.node.crypto import Ed25519Signer

        return Ed25519Signer.from_seed(decode(value["seed"]))
    cls = _qualified(tag) if "." in tag else _classes().get(tag)
    if cls is None:
        if strict:
            raise ITFError(f"unknown ITF tag {tag!r}: not a class of blockfsm's"[:300])
        return Variant(tag, decode(value))
    if not isinstance(value, dict):
        raise ITFError(f"ITF tag {tag!r} carries no record of fields"[:300])
    fields = {key: decode(v, strict=strict) for key, v in value.items()}
    try:
        return cls(**fields)
    except TypeError as error:
        raise ITFError(f"cannot rebuild {tag} from {sorted(fields)}: {error}") from None


# --- machine traces ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TraceStep:
    """One step: ``event`` read through ``view`` took the machine to ``state`` with ``effects``.

    ``raised`` is set (and ``state`` is the state before) when the step function raised."""

    event: Any
    view: Any
    state: Any
    effects: tuple[Any, ...]
    raised: str | None = None


@attrs.frozen(kw_only=True)
class MachineTrace:
    machine: str
    config: Any
    initial: Any
    steps: tuple[TraceStep, ...]
    violation: dict[str, Any] | None = None
    source: str = "blockfsm"


MACHINE_VARS = ["state", "event", "view", "effects", "mbt::actionTaken"]


def machine_document(trace: MachineTrace) -> dict[str, JSON]:
    """The ITF document of a machine trace."""
    states: list[dict[str, JSON]] = [
        {
            "#meta": {"index": 0},
            "state": encode(trace.initial),
            "event": encode(None),
            "view": encode(None),
            "effects": [],
            "mbt::actionTaken": "init",
        }
    ]
    for index, s in enumerate(trace.steps, start=1):
        meta: dict[str, JSON] = {"index": index}
        if s.raised is not None:
            meta["raised"] = s.raised
        states.append(
            {
                "#meta": meta,
                "state": encode(s.state),
                "event": encode(s.event),
                "view": encode(s.view),
                "effects": [encode(e) for e in s.effects],
                "mbt::actionTaken": type(s.event).__name__,
            }
        )
    meta_top: dict[str, JSON] = {
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": trace.source,
        "kind": "machine",
        "length": len(states),
        "machine": trace.machine,
        "config": encode(trace.config),
        "description": (
            f"{trace.machine}: {len(trace.steps)} steps; state i is the machine state after "
            "step i, event/view the input of step i, effects its output"
        ),
    }
    if trace.violation is not None:
        meta_top["violation"] = trace.violation
    return {"#meta": meta_top, "vars": MACHINE_VARS, "states": states}


def read_machine_trace(document: dict[str, JSON]) -> MachineTrace:
    """A machine trace from its ITF document; ``ITFError`` if it is not one."""
    meta = document.get("#meta", {})
    if meta.get("kind") != "machine" or "states" not in document:
        raise ITFError("not a blockfsm machine trace (#meta.kind is not 'machine')")
    states = document["states"]
    if not states:
        raise ITFError("the trace has no states")
    steps = []
    for s in states[1:]:
        steps.append(
            TraceStep(
                event=decode(s["event"], strict=True),
                view=decode(s["view"], strict=True),
                state=decode(s["state"], strict=True),
                effects=tuple(decode(e, strict=True) for e in s["effects"]),
                raised=s.get("#meta", {}).get("raised"),
            )
        )
    return MachineTrace(
        machine=meta["machine"],
        config=decode(meta["config"], strict=True),
        initial=decode(states[0]["state"], strict=True),
        steps=tuple(steps),
        violation=meta.get("violation"),
        source=meta.get("source", "blockfsm"),
    )


def write(document: dict[str, JSON], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


_FALLBACK_DIRS: dict[Path, Path] = {}


def save_trace(document: dict[str, JSON], path: Path) -> Path:
    """Write a found trace at ``path``; if its directory cannot be written, write it under a
    temporary directory instead (one per directory asked for) and say where on stderr, in one
    line: a counterexample is never lost. Returns where the trace is."""
    try:
        return write(document, path)
    except OSError as error:
        asked = Path(path).parent
        fallback = _FALLBACK_DIRS.get(asked)
        if fallback is None:
            fallback = _FALLBACK_DIRS[asked] = Path(tempfile.mkdtemp(prefix="blockfsm-traces-"))
        written = write(document, fallback / Path(path).name)
        reason = " ".join((error.strerror or str(error)).split())
        print(
            f"warning: cannot write the trace to {asked} ({reason}); written to {written}",
            file=sys.stderr,
        )
        return written


def load(path: Path) -> dict[str, JSON]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ITFError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict):
        raise ITFError(f"{path}: an ITF trace is a JSON object")
    return document


# --- recording the steps of conformance runs -----------------------------------------------------

_RECORD_ATTR = "_itf_steps"
TRACE_ATTR = "itf_trace"
"""The attribute a failing ``Conformant.step`` leaves on its exception: the ``MachineTrace``."""


@contextmanager
def recording(limit: int = 10_000) -> Iterator[None]:
    """While active, every ``Conformant`` run records its steps; a step that raises (a violation,
    a conformance error, a crash) attaches the run's ``MachineTrace`` to the exception as
    ``itf_trace``. Steps are recorded raw (no encoding) and encoded only when a trace is written.
    """
    from blockfsm.spec.conformance import Conformant

    original: Callable[..., Any] = Conformant.step

    def step(self: Conformant, state: Any, event: Any, view: Any) -> Any:
        log = self.__dict__.get(_RECORD_ATTR)
        if log is None:
            log = deque(maxlen=limit)
            setattr(self, _RECORD_ATTR, log)
        try:
            result = original(self, state, event, view)
        except Exception as error:
            # The step is pure: running it again gives what the failing step returned.
            try:
                after, effects = self._step(self.config, state, event, view)
                log.append((state, event, view, (after, effects)))
            except Exception as raised:
                log.append((state, event, view, f"{type(raised).__name__}: {raised}"))
            _attach(self, error, log)
            raise
        log.append((state, event, view, result))
        return result

    original_fail: Callable[..., Any] = Conformant.fail

    def fail(self: Conformant, property_id: str, statement: str) -> Any:
        error = original_fail(self, property_id, statement)
        _attach(self, error, self.__dict__.get(_RECORD_ATTR) or deque(), after_last=True)
        return error

    Conformant.step = step  # type: ignore[method-assign]
    Conformant.fail = fail  # type: ignore[method-assign]
    try:
        yield
    finally:
        Conformant.step = original  # type: ignore[method-assign]
        Conformant.fail = original_fail  # type: ignore[method-assign]


def violated_property(error: BaseException) -> str:
    """The property a failure names: an invariant id, ``conformance`` or ``crash``."""
    from blockfsm.spec.conformance import ConformanceError, InvariantViolation, StepRaised

    if isinstance(error, InvariantViolation):
        return error.invariant_id
    if isinstance(error, StepRaised):
        return "crash"
    if isinstance(error, ConformanceError):
        return "conformance"
    return type(error).__name__


def _attach(runner: Any, error: BaseException, log: deque[Any], after_last: bool = False) -> None:
    """Attach the run's trace to ``error``; a liveness failure (``after_last``) is found by the
    campaign after the last step, so its step is one past the last."""
    if getattr(error, TRACE_ATTR, None) is not None or not log:
        return
    setattr(
        error,
        TRACE_ATTR,
        MachineTrace(
            machine=runner.machine.name,
            config=runner.config,
            initial=log[0][0],
            steps=tuple(_trace_step(*entry) for entry in log),
            violation={
                "property": violated_property(error),
                "message": str(error).splitlines()[0] if str(error) else "",
                "step": len(log) + 1 if after_last else len(log),
            },
            source="blockfsm check",
        ),
    )


def _trace_step(before: Any, event: Any, view: Any, outcome: Any) -> TraceStep:
    if isinstance(outcome, str):
        return TraceStep(event=event, view=view, state=before, effects=(), raised=outcome)
    return TraceStep(event=event, view=view, state=outcome[0], effects=tuple(outcome[1]))


DOCUMENT_ATTR = "itf_document"
"""An error may carry a whole ITF document under this attribute instead (the cluster campaign's
simulation traces, built by ``blockfsm.adapters.engines.simtrace``)."""


def document_of(error: BaseException) -> dict[str, JSON] | None:
    """The ITF document of the trace a failing step attached to ``error`` (plain JSON data, so it
    crosses process boundaries), or None."""
    document = getattr(error, DOCUMENT_ATTR, None)
    if isinstance(document, dict):
        return document
    trace = getattr(error, TRACE_ATTR, None)
    return None if trace is None else machine_document(trace)


def write_counterexamples(results: Any, trace_dir: Path, seed: int) -> dict[str, Path]:
    """Write each campaign violation's ITF trace as ``<trace_dir>/<machine>-<seed>.itf.json``
    (a simulation trace shrunk first, its original beside it: ``shrink.save_counterexample``)."""
    from blockfsm.adapters.engines.shrink import save_counterexample

    written = {}
    for result in results:
        violation = result.violation
        if violation is None or violation.itf is None:
            continue
        path = Path(trace_dir) / f"{result.machine}-{seed}.itf.json"
        written[result.machine], _ = save_counterexample(violation.itf, path)
        source = getattr(violation, "source", "")
        if source:  # a part's property (a node's attester) is listed under that part
            written[source] = written[result.machine]
    return written
