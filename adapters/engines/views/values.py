"""ITF values in words, and the difference between two of them, for the HTML views.

Both read the ITF JSON itself, not decoded Python values: a view must show any trace the project
writes (a model trace's records, a simulation's digests, a system's whole world), including one
written by an older version whose classes have since changed.
"""

from __future__ import annotations

from typing import Any

JSON = Any
MAX_DIFFERENCES = 60


def show(value: JSON, limit: int = 160) -> str:
    """``value`` as short text: ``Vote(height=1, round=0, ...)``, bytes as a hex prefix."""
    text = _show(value, limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(v: JSON, limit: int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + _join(v, limit) + "]"
    if not isinstance(v, dict):
        return repr(v)
    if len(v) == 1:
        ((key, inner),) = v.items()
        if key == "#bigint":
            return str(inner)
        if key == "#tup":
            return "(" + _join(inner, limit) + ")"
        if key == "#set":
            return "{" + _join(inner, limit) + "}"
        if key == "#map":
            return "{" + _join([_Pair(k, x) for k, x in inner], limit) + "}"
        if key == "#unserializable":
            return f"<{inner}>"
    if set(v) == {"tag", "value"} and isinstance(v["tag"], str):
        tag, inner = v["tag"].rpartition(".")[2], v["value"]
        if tag == "Bytes" and isinstance(inner, str):
            return "0x" + inner[:8] + ("…" if len(inner) > 8 else "")
        if tag == "None":
            return "None"
        if isinstance(inner, dict) and not any(k.startswith("#") for k in inner):
            fields = ", ".join(f"{k}={_show(x, limit)}" for k, x in inner.items())
            return f"{tag}({fields})"
        return f"{tag}({_show(inner, limit)})"
    return "{" + ", ".join(f"{k}: {_show(x, limit)}" for k, x in v.items()) + "}"


class _Pair:
    def __init__(self, key: JSON, value: JSON) -> None:
        self.key, self.value = key, value


def _join(items: list[Any], limit: int) -> str:
    parts: list[str] = []
    size = 0
    for item in items:
        if isinstance(item, _Pair):
            text = f"{_show(item.key, limit)}: {_show(item.value, limit)}"
        else:
            text = _show(item, limit)
        parts.append(text)
        size += len(text) + 2
        if size > limit:
            parts.append(f"… {len(items)} in all")
            break
    return ", ".join(parts)


def tag_of(value: JSON) -> str | None:
    """The class name of an ITF variant (``Vote``), or None. Tags are qualified by module
    (``blockfsm.machine.attester.state.Vote``); a page names the class, as the spec does."""
    if isinstance(value, dict) and set(value) == {"tag", "value"}:
        tag = value["tag"]
        return tag.rpartition(".")[2] if isinstance(tag, str) else None
    return None


def fields_of(value: JSON) -> dict[str, JSON]:
    """The fields of an ITF variant whose value is a record, else ``{}``."""
    if tag_of(value) is not None and isinstance(value["value"], dict):
        return dict(value["value"])
    return {}


def differences(before: JSON, after: JSON, path: str = "") -> list[tuple[str, str, str]]:
    """``(path, before, after)`` for each part that differs, at most ``MAX_DIFFERENCES``: records
    and variants of one tag field by field, lists and tuples of one length item by item, sets as
    what left and what came."""
    found: list[tuple[str, str, str]] = []
    _diff(before, after, path, found)
    return found[:MAX_DIFFERENCES]


def _diff(a: JSON, b: JSON, path: str, out: list[tuple[str, str, str]]) -> None:
    if a == b or len(out) >= MAX_DIFFERENCES:
        return
    ta, tb = tag_of(a), tag_of(b)
    if ta is not None and ta == tb:
        fa, fb = a["value"], b["value"]
        if isinstance(fa, dict) and isinstance(fb, dict) and set(fa) == set(fb):
            for key in fa:
                _diff(fa[key], fb[key], f"{path}.{key}" if path else key, out)
            return
        _diff(fa, fb, path, out)
        return
    if isinstance(a, dict) and isinstance(b, dict) and len(a) == 1 and a.keys() == b.keys():
        ((key, xa),) = a.items()
        xb = b[key]
        if key == "#tup" and len(xa) == len(xb):
            for i, (p, q) in enumerate(zip(xa, xb, strict=True)):
                _diff(p, q, f"{path}[{i}]", out)
            return
        if key == "#set":
            gone = [x for x in xa if x not in xb]
            came = [x for x in xb if x not in xa]
            out.append((path, "- " + show({"#set": gone}), "+ " + show({"#set": came})))
            return
        if key == "#map":
            ma = {show(k): v for k, v in xa}
            mb = {show(k): v for k, v in xb}
            for k in sorted(set(ma) | set(mb)):
                sub = f"{path}[{k}]"
                if k not in ma:
                    out.append((sub, "", show(mb[k])))
                elif k not in mb:
                    out.append((sub, show(ma[k]), ""))
                else:
                    _diff(ma[k], mb[k], sub, out)
            return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (p, q) in enumerate(zip(a, b, strict=True)):
            _diff(p, q, f"{path}[{i}]", out)
        return
    if (
        isinstance(a, dict)
        and isinstance(b, dict)
        and ta is None
        and tb is None
        and not any(k.startswith("#") for k in a)
        and a.keys() == b.keys()
    ):
        for key in a:
            _diff(a[key], b[key], f"{path}.{key}" if path else key, out)
        return
    out.append((path or "(whole)", show(a), show(b)))
