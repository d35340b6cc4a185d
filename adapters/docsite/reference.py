"""Reference pages for the documentation site, generated from the code itself.

Three pages are never written by hand, because a hand-written copy drifts:

- the **configuration reference**: every ``*Config`` class in ``blockfsm.machine`` and
  ``blockfsm.adapters``, its fields and defaults from the attrs declaration, and each field's
  accepted range and unit read from the ``require_int(self.field, "name (unit)", low, high)``
  calls of its validator (the same calls that raise ``ConfigError``);
- the **CLI reference**: every command and option of the ``blockfsm`` click group;
- the **API reference**: the docstrings of the public classes and functions of
  ``blockfsm.spec``, ``blockfsm.machine`` and the checking engines, ``blockfsm.adapters.engines``
  (the campaign runner, the registry, the explorer, the simulator, ITF, replay).

``docs/hooks.py`` adds these pages to the MkDocs build; nothing is written into ``docs/``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Generic

import attrs
import click

PURE_PACKAGES = ("blockfsm.spec", "blockfsm.machine")
CONFIG_PACKAGES = ("blockfsm.machine", "blockfsm.adapters")


def _modules(package_name: str) -> Iterator[ModuleType]:
    """The package and every module below it, in name order, imported."""
    package = importlib.import_module(package_name)
    yield package
    path = getattr(package, "__path__", None)
    if path is None:
        return
    for info in sorted(
        pkgutil.walk_packages(path, prefix=package_name + "."), key=lambda i: i.name
    ):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        # The documentation site's own generator and hook are not part of the reference.
        if info.name == __name__:
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional extra (e.g. the node's LMDB store) is not installed
            continue


def _doc(obj: object) -> str:
    text = inspect.getdoc(obj) or ""
    return text.strip()


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


# --- configuration reference -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FieldRange:
    """What a config validator accepts for one field: ``low..high`` and the unit, when stated."""

    low: str
    high: str
    unit: str


def _literal(node: ast.expr, namespace: dict[str, Any]) -> str:
    """A bound as a reader wants it: a number with thousands separators, else the source text."""
    try:
        value = eval(compile(ast.Expression(node), "<bound>", "eval"), dict(namespace))
    except Exception:  # a bound that is not a constant expression: show its source
        return ast.unparse(node)
    if type(value) is int:
        return f"{value:,}"
    return repr(value)


def _fstring_part(node: ast.expr, namespace: dict[str, Any]) -> str:
    """One piece of a validator's f-string message: literal text, a module constant's value, or
    the source of an expression that depends on the instance (``{self.x}``)."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.FormattedValue):
        expression = node.value
        if isinstance(expression, ast.Name) and expression.id in namespace:
            return str(namespace[expression.id])
        return _VALUE + ast.unparse(expression).removeprefix("self.") + _VALUE
    return ast.unparse(node)


_VALUE = "\0"
"""Marks, in a requirement's text, a value known only at run time (``{self.field}``)."""


def _requirement(text: str) -> str:
    """A validator's message as a rule: the run-time value shown in parentheses after a field's
    name is dropped (the page states the rule, not one config's values), any other is the
    field's name in code style."""
    text = re.sub(rf" ?\({_VALUE}[^{_VALUE}]*{_VALUE}\)", "", text)
    return re.sub(rf"{_VALUE}([^{_VALUE}]*){_VALUE}", r"`\1`", text)


def config_ranges(cls: type) -> tuple[dict[str, FieldRange], list[str]]:
    """The ``require_int`` ranges of ``cls``'s validator by field, and its other requirements
    (the messages of its ``require(...)`` calls), read from ``__attrs_post_init__``'s source."""
    method = cls.__dict__.get("__attrs_post_init__")
    if method is None:
        return {}, []
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    namespace = vars(inspect.getmodule(cls))
    ranges: dict[str, FieldRange] = {}
    other: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        args = node.args
        if node.func.id == "require_int" and len(args) == 4:
            target, label, low, high = args
            if not (
                isinstance(target, ast.Attribute)
                and isinstance(label, ast.Constant)
                and isinstance(label.value, str)
            ):
                continue
            unit = ""
            if "(" in label.value and label.value.endswith(")"):
                unit = label.value[label.value.index("(") + 1 : -1]
            ranges[target.attr] = FieldRange(
                low=_literal(low, namespace), high=_literal(high, namespace), unit=unit
            )
        elif node.func.id == "require" and len(args) == 2:
            message = args[1]
            if isinstance(message, ast.Constant) and isinstance(message.value, str):
                other.append(message.value)
            elif isinstance(message, ast.JoinedStr):
                parts = "".join(_fstring_part(v, namespace) for v in message.values)
                other.append(_requirement(parts))
    return ranges, other


def config_classes() -> list[type]:
    """Every attrs class named ``...Config`` defined in the machine and adapter packages."""
    found: list[type] = []
    for package in CONFIG_PACKAGES:
        for module in _modules(package):
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and name.endswith("Config")
                    and obj.__module__ == module.__name__
                    and attrs.has(obj)
                ):
                    found.append(obj)
    return found


def _type_name(annotation: object) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", repr(annotation))


def _default(field: attrs.Attribute[Any]) -> str:
    default = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return "computed"
    if type(default) is int:
        return f"`{default:,}`"
    return f"`{default!r}`"


def config_reference() -> str:
    out = [
        "# Configuration reference\n",
        "<!-- Generated at build time by blockfsm.adapters.docsite.reference "
        "from the config classes. -->\n",
        "Every config is an immutable attrs class validated when it is constructed: a value "
        "outside its range raises `ConfigError` naming the field and the accepted range, and "
        "never reaches `step`. Times are integer milliseconds. The ranges below are read from "
        "each class's validator, so they are the ones enforced.\n",
    ]
    for cls in config_classes():
        ranges, other = config_ranges(cls)
        out.append(f"## `{cls.__name__}`\n")
        out.append(f"`{cls.__module__}.{cls.__name__}`\n")
        if _doc(cls):
            out.append(_doc(cls) + "\n")
        out.append("| field | type | default | accepted | unit |")
        out.append("|---|---|---|---|---|")
        for field in attrs.fields(cls):
            if not field.init:
                continue
            r = ranges.get(field.name)
            accepted = f"{r.low} .. {r.high}" if r else ""
            unit = r.unit if r else ""
            out.append(
                f"| `{field.name}` | `{_cell(_type_name(field.type))}` | {_default(field)} | "
                f"{accepted} | {unit} |"
            )
        out.append("")
        if other:
            out.append("Also required:\n")
            out.extend(f"- {_cell(message)}" for message in other)
            out.append("")
    return "\n".join(out)


# --- CLI reference ---------------------------------------------------------------------------


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    """Every command of ``group`` (those loaded when used included), in name order."""
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def cli_reference() -> str:
    from blockfsm.adapters.commands.cli import main
    from blockfsm.adapters.exits import EXIT_STATUSES

    out = [
        "# Command-line reference\n",
        "<!-- Generated at build time by blockfsm.adapters.docsite.reference "
        "from the click commands. -->\n",
        "Every command prints its own help with `--help`; this page is generated from the same "
        "declarations.\n",
        "## Exit statuses\n",
        "Every command exits with one of these statuses, each with one meaning; each command "
        "below lists the ones it can exit with. An error the user can fix (a bad option, a bad "
        "file, a port in use) is one line on stderr, never a traceback.\n",
        "| status | meaning |",
        "|---|---|",
        *(f"| {status} | {_cell(meaning)} |" for status, meaning in EXIT_STATUSES.items()),
        "",
    ]
    for path, command in _commands(main, "blockfsm"):
        out.append(f"## `{path}`\n")
        with click.Context(command, info_name=path) as ctx:
            usage = command.get_usage(ctx).removeprefix("Usage: ")
            out.append(f"```text\n{usage}\n```\n")
            if command.help:
                out.append(inspect.cleandoc(command.help) + "\n")
            options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
            arguments = [p for p in command.params if isinstance(p, click.Argument)]
            if arguments:
                out.append(
                    "Arguments: " + ", ".join(f"`{a.human_readable_name}`" for a in arguments)
                )
                out.append("")
            if options:
                out.append("| option | type | default | help |")
                out.append("|---|---|---|---|")
                for option in options:
                    names = ", ".join(f"`{o}`" for o in (*option.opts, *option.secondary_opts))
                    kind = "flag" if option.is_flag else option.type.name
                    default = option.default
                    shown = (
                        f"`{default}`"
                        if isinstance(default, (int, float, str)) and not option.is_flag
                        else ""
                    )
                    out.append(
                        f"| {_cell(names)} | {_cell(kind)} | {_cell(shown)} "
                        f"| {_cell(option.help or '')} |"
                    )
                out.append("")
    return "\n".join(out)


# --- API reference ---------------------------------------------------------------------------


def _public_members(module: ModuleType) -> list[tuple[str, object]]:
    members = []
    exported = getattr(module, "__all__", None)
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if exported is not None and name not in exported:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        members.append((name, obj))
    return members


def _own_doc(obj: object) -> str:
    """A class's own docstring (never one inherited from a base, e.g. ``Protocol``'s)."""
    if inspect.isclass(obj):
        text = obj.__dict__.get("__doc__")
        return inspect.cleandoc(text) if isinstance(text, str) else ""
    return _doc(obj)


def _heading(name: str, obj: object) -> str:
    """How a member is declared: a function or a class with its constructor's signature; a
    protocol or an exception with its bases (a protocol is not constructed, and an exception's
    constructor is its base's)."""
    if not inspect.isclass(obj):
        return f"def {name}{_signature(obj)}"
    if getattr(obj, "_is_protocol", False) or issubclass(obj, BaseException):
        bases = ", ".join(b.__name__ for b in obj.__bases__ if b is not Generic)
        return f"class {name}({bases})"
    return f"class {name}{_signature(obj)}"


def _protocol_methods(obj: object) -> list[str]:
    """A protocol's own methods, each with its signature and docstring."""
    if not (inspect.isclass(obj) and getattr(obj, "_is_protocol", False)):
        return []
    out = []
    for attr, member in obj.__dict__.items():
        if attr.startswith("_"):
            continue
        if isinstance(member, property):
            text = f": {_cell(_doc(member))}" if member.__doc__ else ""
            out.append(f"- `{attr}` (property){text}")
        elif inspect.isfunction(member):
            text = f": {_cell(_doc(member))}" if _doc(member) else ""
            out.append(f"- `{attr}{_signature(member)}`{text}")
    return out


def _signature(obj: object) -> str:
    """The signature with its annotations evaluated (the modules postpone them, so they would read
    as strings), or as written when one cannot be."""
    for evaluate in (True, False):
        try:
            return str(inspect.signature(obj, eval_str=evaluate))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "(...)"
        except NameError:
            continue
    return "(...)"


def api_reference(package: str) -> str:
    out = [
        f"# API reference: `{package}`\n",
        "<!-- Generated at build time by blockfsm.adapters.docsite.reference "
        "from the docstrings. -->\n",
    ]
    for module in _modules(package):
        out.append(f"## `{module.__name__}`\n")
        if _doc(module):
            out.append(_doc(module) + "\n")
        for name, obj in _public_members(module):
            out.append(f"### `{name}`\n")
            out.append(f"```python\n{_heading(name, obj)}\n```\n")
            if _own_doc(obj):
                out.append(_own_doc(obj) + "\n")
            methods = _protocol_methods(obj)
            if methods:
                out.append("\n".join(methods) + "\n")
    return "\n".join(out)


def generated_pages() -> dict[str, str]:
    """Site path -> Markdown, for every generated page."""
    return {
        "reference/config.md": config_reference(),
        "reference/cli.md": cli_reference(),
        "reference/api-spec.md": api_reference("blockfsm.spec"),
        "reference/api-machine.md": api_reference("blockfsm.machine"),
        "reference/api-engines.md": api_reference("blockfsm.adapters.engines"),
    }
