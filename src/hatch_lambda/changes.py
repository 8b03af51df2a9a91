"""Explains why a layer was rebuilt by comparing its recorded fingerprint inputs with the new ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;\\]+)")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SHOWN = 4
_LONG = 40
_HEX = re.compile(r"^[0-9a-f]{32,}$")
# Inputs that follow from the runtime and architecture: named only when those did not change.
_DERIVED = frozenset({"python_version", "abis", "platform_tags"})
_FIRST = ("runtime", "architecture", "python_version", "inputs", "installer", "files", "options")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    """Package name -> its pinned version, or the rest of the line when it is not a plain pin."""
    pins: dict[str, str] = {}
    for line in lines:
        text = str(line)
        m = _PIN.match(text)
        if m:
            pins[_canonical(m.group(1))] = m.group(2)
            continue
        n = _NAME.match(text)
        name = _canonical(n.group(1)) if n else text.strip()
        rest = text[n.end():].split(" --hash", maxsplit=1)[0].strip() if n else ""
        pins[name] = rest or "(any version)"
    return pins


def _clip(items: list[str]) -> str:
    return ", ".join(items[:_SHOWN]) + (f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")


def _show(value: object) -> str:
    text = str(value)
    if _HEX.match(text):
        return text[:12] + "…"
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"


def _label(key: str) -> str:
    return key.replace("_", " ").replace("-", " ")


def requirement_changes(source: str, old: list[str], new: list[str]) -> list[str]:
    """E.g. ["uv.lock changed: pydantic 2.14.3 → 2.14.4, +typing-extensions 4.12.2"]."""
    before, after = _pins(old), _pins(new)
    moved = [f"{n} {before[n]} → {after[n]}" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    added = [f"+{n} {after[n]}" for n in sorted(after.keys() - before.keys())]
    removed = [f"-{n} {before[n]}" for n in sorted(before.keys() - after.keys())]
    parts = moved + added + removed
    if not parts and old != new:
        parts = ["hashes or options of the same pins"]
    return [f"{source} changed: {_clip(parts)}"] if parts else []


def file_changes(old: list[list[str]], new: list[list[str]]) -> list[str]:
    """Rows are [path, mode, sha256]: names files whose content or mode changed, was added or removed."""
    before = {str(f[0]): f for f in old if f}
    after = {str(f[0]): f for f in new if f}
    changed = []
    for path in sorted(before.keys() & after.keys()):
        a, b = before[path], after[path]
        if a == b:
            continue
        if len(a) > 1 and len(b) > 1 and a[1] != b[1] and a[2:] == b[2:]:
            changed.append(f"{path} (mode {a[1]} → {b[1]})")
        else:
            changed.append(path)
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    out = []
    if changed:
        out.append(f"files changed: {_clip(changed)}")
    if added:
        out.append(f"files added: {_clip(added)}")
    if removed:
        out.append(f"files removed: {_clip(removed)}")
    return out


def _list_changes(key: str, a: list[Any], b: list[Any]) -> list[str]:
    if all(isinstance(x, str) for x in a + b):
        added = [f"+{x}" for x in b if x not in a]
        removed = [f"-{x}" for x in a if x not in b]
        if added or removed:
            return [f"{_label(key)} changed: {_clip(added + removed)}"]
        return [f"{_label(key)} reordered"]
    return [f"{_label(key)} changed"]


def _diff(old: Mapping[str, Any], new: Mapping[str, Any], top: bool) -> list[str]:
    keys = sorted(old.keys() | new.keys(), key=lambda k: (_FIRST.index(k) if k in _FIRST else len(_FIRST), k))
    target_changed = top and any(old.get(k) != new.get(k) for k in ("runtime", "architecture"))
    reasons: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if a == b or (target_changed and key in _DERIVED):
            continue
        if key == "requirements" and isinstance(a, list) and isinstance(b, list):
            reasons += requirement_changes(str(new.get("source", old.get("source", "requirements"))), a, b)
        elif key == "files" and isinstance(a, list) and isinstance(b, list):
            reasons += file_changes(a, b)
        elif key == "installer" and isinstance(a, Mapping) and isinstance(b, Mapping):
            reasons.append(
                f"installer changed: {a.get('name')} {a.get('version')} → {b.get('name')} {b.get('version')}"
            )
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            reasons += _diff(a, b, False)
        elif isinstance(a, list) and isinstance(b, list):
            reasons += _list_changes(key, a, b)
        elif a is None:
            reasons.append(f"{_label(key)} added: {_show(b)}")
        elif b is None:
            reasons.append(f"{_label(key)} removed (was {_show(a)})")
        else:
            reasons.append(f"{_label(key)} changed: {_show(a)} → {_show(b)}")
    return reasons


def describe_changes(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    forced: str | None = None,
    previous_fingerprint: str | None = None,
    fingerprint: str | None = None,
) -> list[str]:
    """Short human reasons a layer was built, e.g. "uv.lock changed: pydantic 2.14.3 → 2.14.4"; never empty.

    `old` is the payload recorded for the previous build's fingerprint (None when unknown), `forced` says
    why a rebuild was forced, if it was.
    """
    if forced:
        return [f"forced rebuild ({forced})"]
    if old is None:
        if previous_fingerprint is None:
            return ["not in the layer store (first build of these inputs)"]
        if previous_fingerprint == fingerprint:
            return ["store entry missing or damaged"]
        return ["inputs changed (the previous build's inputs are no longer in the layer store)"]
    if dict(old) == dict(new):
        return ["store entry missing or damaged"]
    return _diff(old, new, True) or ["inputs changed"]
