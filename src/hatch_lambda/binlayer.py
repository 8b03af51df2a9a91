"""Collects a binary layer's files from the project (bin/ -> /opt/bin, lib/ -> /opt/lib, ...)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from hatch_lambda.archive import Entry
from hatch_lambda.config import TABLE, BinaryLayerConfig
from hatch_lambda.errors import LayerInputError

# Never shipped from a binary layer's folders: VCS and cache debris.
_SKIP_DIRS = frozenset({".git", ".hg", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_FILES = frozenset({".DS_Store"})


def _where(root: Path, layer: str, source: str) -> str:
    return f"{root / 'pyproject.toml'}: layer {layer!r} (`{TABLE}.layers`, path {source!r})"


def _resolve_link(path: Path, root: Path, layer: str, source: str) -> Path:
    """Where a symlink leads; refused when it dangles, loops, or leaves the project (it would ship host files)."""
    rel = path.relative_to(root).as_posix()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing target, or a loop (RuntimeError before Python 3.13)
        message = (
            f"{_where(root, layer, source)} contains the symlink {rel} -> {os.readlink(path)}, which leads "
            f"nowhere (its target does not exist, or the link loops). Remove it or point it at a file."
        )
        raise LayerInputError(message) from None
    if not resolved.is_relative_to(root):
        message = (
            f"{_where(root, layer, source)} contains the symlink {rel} -> {os.readlink(path)}, which points outside "
            f"the project to {resolved}. Copy the file into the project or point the link inside it."
        )
        raise LayerInputError(message)
    return resolved


def _walk(start: Path, root: Path, layer: str, source: str) -> Iterator[tuple[Path, str]]:
    """(real file, path relative to `start`) for every file below `start`, following links inside the project."""
    for dirpath, dirnames, filenames in os.walk(start, followlinks=True):
        here = Path(dirpath)
        kept = []
        for name in sorted(dirnames):
            if name in _SKIP_DIRS:
                continue
            sub = here / name
            if sub.is_symlink():
                target = _resolve_link(sub, root, layer, source)
                if here.resolve().is_relative_to(target):
                    message = (
                        f"{_where(root, layer, source)} contains the symlink {sub.relative_to(root).as_posix()} "
                        f"-> {os.readlink(sub)}, which points to a folder that contains it: the layer would be "
                        "endless. Remove the link."
                    )
                    raise LayerInputError(message)
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name in _SKIP_FILES:
                continue
            path = here / name
            real = _resolve_link(path, root, layer, source) if path.is_symlink() else path
            yield real, path.relative_to(start).as_posix()


def collect(layer: BinaryLayerConfig, root: Path) -> list[Entry]:
    """Returns the layer's entries, sorted by their path inside the layer."""
    root = root.resolve()
    entries: list[Entry] = []
    for source, destination in layer.paths:
        start = root / source
        if start.is_symlink():
            start_real = _resolve_link(start, root, layer.name, source)
        elif start.exists():
            start_real = start
        else:
            message = (
                f"{root / 'pyproject.toml'}: layer {layer.name!r} (`{TABLE}.layers`) names the path {source!r}, "
                "which does not exist in the project."
            )
            raise LayerInputError(message)
        base = destination.rstrip("/")
        if start_real.is_file():
            # A file mapped onto a folder (`"/opt"`, `"/opt/bin/"`) keeps its name inside that folder.
            if destination in (".", "") or destination.endswith("/"):
                arcname = start.name if base in (".", "") else f"{base}/{start.name}"
            else:
                arcname = base
            entries.append(_entry(start_real, arcname, root, layer.name, source))
            continue
        prefix = "" if base in (".", "") else f"{base}/"
        for real, rel in _walk(start, root, layer.name, source):
            entries.append(_entry(real, f"{prefix}{rel}", root, layer.name, source))
    if not entries:
        message = (
            f"{root / 'pyproject.toml'}: layer {layer.name!r} (`{TABLE}.layers`) holds no files: its paths "
            f"{', '.join(repr(s) for s, _ in layer.paths)} are empty folders. Lambda refuses an empty layer; "
            "add files or remove the layer."
        )
        raise LayerInputError(message)
    entries.sort(key=lambda e: e.arcname)
    return entries


def _entry(real: Path, arcname: str, root: Path, layer: str, source: str) -> Entry:
    st = real.stat()
    if not stat.S_ISREG(st.st_mode):
        message = f"{_where(root, layer, source)} includes {real}, which is not a regular file (a device or a pipe)."
        raise LayerInputError(message)
    return Entry(real, arcname, bool(st.st_mode & 0o111))
