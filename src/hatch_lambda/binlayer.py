"""Collects a binary layer's files from the project (bin/ -> /opt/bin, lib/ -> /opt/lib, ...)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hatch_lambda.archive import Entry
from hatch_lambda.config import TABLE, BinaryLayerConfig
from hatch_lambda.errors import LayerInputError

# Never shipped from a binary layer's folders: VCS and cache debris.
_SKIP_DIRS = frozenset({".git", ".hg", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_FILES = frozenset({".DS_Store"})


def _check_inside(path: Path, root: Path, layer: str, source: str) -> Path:
    """Resolves symlinks; a link leading outside the project is refused (it would ship host files)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        message = (
            f"{root / 'pyproject.toml'}: layer {layer!r} (`{TABLE}.layers`, path {source!r}) contains the "
            f"symlink {path.relative_to(root).as_posix()} -> {os.readlink(path)}, which points outside the "
            f"project to {resolved}. Copy the file into the project or point the link inside it."
        )
        raise LayerInputError(message)
    return resolved


def collect(layer: BinaryLayerConfig, root: Path) -> list[Entry]:
    """Returns the layer's entries, sorted by their path inside the layer."""
    root = root.resolve()
    entries: list[Entry] = []
    for source, destination in layer.paths:
        start = root / source
        if not start.exists() and not start.is_symlink():
            message = (
                f"{root / 'pyproject.toml'}: layer {layer.name!r} (`{TABLE}.layers`) names the path "
                f"{source!r}, which does not exist in the project."
            )
            raise LayerInputError(message)
        if start.is_symlink():
            _check_inside(start, root, layer.name, source)
        prefix = "" if destination == "." else destination.rstrip("/") + "/"
        if start.is_file():
            entries.append(_entry(start, root, layer.name, source, prefix.rstrip("/")))
            continue
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            here = Path(dirpath)
            kept = []
            for name in sorted(dirnames):
                if name in _SKIP_DIRS:
                    continue
                sub = here / name
                if sub.is_symlink():
                    target = _check_inside(sub, root, layer.name, source)
                    # Walk a link to a directory inside the project as if it were that directory.
                    for inner in _walk_linked(target, root, layer.name, source):
                        rel = inner[1]
                        arc = f"{prefix}{(sub.relative_to(start) / rel).as_posix()}"
                        entries.append(Entry(inner[0], arc, inner[2]))
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                if name in _SKIP_FILES:
                    continue
                path = here / name
                arc = f"{prefix}{path.relative_to(start).as_posix()}"
                entries.append(_entry(path, root, layer.name, source, arc))
    entries.sort(key=lambda e: e.arcname)
    return entries


def _walk_linked(target: Path, root: Path, layer: str, source: str) -> list[tuple[Path, str, bool]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            real = _check_inside(path, root, layer, source) if path.is_symlink() else path
            found.append((real, path.relative_to(target).as_posix(), _is_executable(real)))
    return found


def _entry(path: Path, root: Path, layer: str, source: str, arcname: str) -> Entry:
    real = _check_inside(path, root, layer, source) if path.is_symlink() else path
    st = real.stat()
    if not stat.S_ISREG(st.st_mode):
        message = f"{root / 'pyproject.toml'}: layer {layer!r} path {source!r} includes {path}, which is not a file"
        raise LayerInputError(message)
    return Entry(real, arcname, bool(st.st_mode & 0o111))


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)
