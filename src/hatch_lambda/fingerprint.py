"""Layer fingerprints: sha256 over a canonical, documented JSON encoding of everything that shapes a layer."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hatch_lambda.archive import ARCHIVE_FORMAT_VERSION, Entry

# Bumped when the encoding below changes, so old store entries are never confused with new ones.
FINGERPRINT_VERSION = 1
_DOMAIN = b"hatch-lambda layer fingerprint\n"


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes hashed: compact, key-sorted, ASCII-only JSON (no floats, no timestamps, no paths)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def fingerprint(payload: Mapping[str, Any]) -> str:
    """Hex sha256 of the canonical payload; the first 12 characters name the layer zip."""
    return hashlib.sha256(_DOMAIN + canonical_bytes(payload)).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


class FileHashCache:
    """Content hashes of input files, reused while a file's size and mtime are unchanged.

    Only this cache knows absolute paths and mtimes; they never enter a fingerprint, so a fresh clone
    at another path gets the same fingerprint (after hashing its files once).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text("utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError):
                self._entries = {}

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = os.fspath(path)
        cached = self._entries.get(key)
        if cached is not None and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return str(cached[2])
        digest = file_sha256(path)
        self._entries[key] = [st.st_size, st.st_mtime_ns, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        from hatch_lambda.archive import atomic_path

        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self._entries, sort_keys=True), "utf-8")
        except OSError:
            pass  # a cache we cannot write only costs rehashing next time
        self._dirty = False


def files_payload(entries: Iterable[Entry], hashes: FileHashCache) -> list[list[str]]:
    """[path inside the archive, mode, sha256] per file, sorted: what decides the archive's bytes."""
    return [[e.arcname, "755" if e.executable else "644", hashes.sha256(e.source)] for e in entries]


def binary_layer_payload(entries: Iterable[Entry], hashes: FileHashCache) -> dict[str, Any]:
    """A binary layer is exactly its files; its name is not part of it (same files, same zip)."""
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "archive_format": ARCHIVE_FORMAT_VERSION,
        "kind": "binary",
        "files": files_payload(entries, hashes),
    }
