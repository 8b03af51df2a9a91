"""Explains why a layer was rebuilt by comparing its recorded fingerprint inputs with the new ones."""

from __future__ import annotations

import re
from typing import Any

_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*===?\s*([^\s;\\]+)")
_SHOWN = 4


def _pins(lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        m = _PIN.match(line)
        name = (m.group(1) if m else line.split(";")[0].strip()).lower().replace("_", "-")
        pins[name] = m.group(2) if m else line.strip()
    return pins


def _clip(items: list[str]) -> str:
    return ", ".join(items[:_SHOWN]) + (f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")


def _requirement_changes(source: str, old: list[str], new: list[str]) -> list[str]:
    before, after = _pins(old), _pins(new)
    moved = [f"{n} {before[n]} → {after[n]}" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    added = [f"+{n} {after[n]}" for n in sorted(after.keys() - before.keys())]
    removed = [f"-{n} {before[n]}" for n in sorted(before.keys() - after.keys())]
    parts = moved + added + removed
    if not parts and old != new:
        parts = ["hashes or options of pinned packages"]
    return [f"{source} changed: {_clip(parts)}"] if parts else []


def _file_changes(old: list[list[str]], new: list[list[str]]) -> list[str]:
    before = {f[0]: f for f in old}
    after = {f[0]: f for f in new}
    changed = [p for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
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


def describe_changes(old: dict[str, Any] | None, new: dict[str, Any], *, forced: bool = False) -> list[str]:
    """Short human reasons, e.g. "uv.lock changed: pydantic 2.14.3 → 2.14.4"; never empty."""
    if forced:
        return ["forced rebuild"]
    if old is None:
        return ["first build (not in the layer store)"]
    if old == new:
        return ["store entry missing or damaged"]
    reasons: list[str] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "files":
            reasons += _file_changes(list(a or []), list(b or []))
        elif key == "inputs" and isinstance(a, dict) and isinstance(b, dict):
            if a.get("requirements") != b.get("requirements"):
                reasons += _requirement_changes(str(b.get("source")), list(a.get("requirements", [])),
                                                list(b.get("requirements", [])))
            for sub in sorted((a.keys() | b.keys()) - {"requirements"}):
                if a.get(sub) != b.get(sub):
                    reasons.append(f"{sub} changed: {a.get(sub)} → {b.get(sub)}")
        elif key == "installer" and isinstance(a, dict) and isinstance(b, dict):
            reasons.append(f"installer changed: {a.get('name')} {a.get('version')} → {b.get('name')} {b.get('version')}")
        elif key == "options" and isinstance(a, dict) and isinstance(b, dict):
            names = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            reasons.append(f"options changed: {', '.join(names)}")
        elif isinstance(a, (str, int)) and isinstance(b, (str, int)):
            reasons.append(f"{key.replace('_', ' ')} changed: {a} → {b}")
        else:
            reasons.append(f"{key.replace('_', ' ')} changed")
    return reasons or ["inputs changed"]
