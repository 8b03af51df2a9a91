"""Layer fingerprints: sha256 over a canonical, documented JSON encoding of everything that shapes a layer."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hatch_lambda.archive import ARCHIVE_FORMAT_VERSION, Entry

# Bumped when the encoding below changes, so old store entries are never confused with new ones.
FINGERPRINT_VERSION = 1
# Prefixed to the canonical bytes so a fingerprint can never collide with the plain sha256 of some file.
DOMAIN = b"hatch-lambda layer fingerprint\n"
MODE_EXECUTABLE = "755"
MODE_REGULAR = "644"

# A file modified within this many seconds of being hashed may change again within the same mtime tick
# (file systems round timestamps); its hash is not cached so the next build looks at its bytes again.
_RACY_SECONDS = 2.0
_CHUNK = 1024 * 1024
_CACHE_VERSION = 1


def _check(value: object, where: str) -> None:
    """Only JSON values with one spelling are allowed: no floats (1.0 vs 1), no non-string keys."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"fingerprint payload key {where}.{key!r} must be a string")
            _check(item, f"{where}.{key}")
        return
    raise TypeError(f"fingerprint payload value {where} must be str, int, bool, None, list or dict, not "
                    f"{type(value).__name__}")


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes hashed: compact, key-sorted, ASCII-only JSON (no floats, no timestamps, no paths).

    `json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`: keys sorted by code
    point, no whitespace, non-ASCII as `\\uXXXX`, lists kept in their (meaningful) order.
    """
    _check(payload, "payload")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def fingerprint(payload: Mapping[str, Any]) -> str:
    """Hex sha256 of DOMAIN + canonical payload; the first 12 characters name the layer zip."""
    return hashlib.sha256(DOMAIN + canonical_bytes(payload)).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks so a 250 MB layer never sits in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class FileHashCache:
    """Content hashes of input files, reused while a file's size and mtime are unchanged.

    Only this cache knows absolute paths and mtimes; they never enter a fingerprint, so a fresh clone
    at another path gets the same fingerprint (after hashing its files once). The cache file is JSON:
    `{"version": 1, "files": {absolute path: [size, mtime_ns, sha256]}, "memo": {name: value}}`, where
    `memo` keeps results derived from hashed inputs (the dependency layer's payload, keyed by the hash of
    everything it was computed from). A missing or unreadable file costs only a rehash.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._memo: dict[str, Any] = {}
        self._dirty = False
        self.hashed: list[Path] = []  # files whose bytes this run had to read (tests and `--verbose` use it)
        if path is not None:
            try:
                with open(path, "rb") as f:
                    loaded = json.load(f)
            except (OSError, ValueError):
                loaded = None
            if isinstance(loaded, dict) and loaded.get("version") == _CACHE_VERSION:
                files, memo = loaded.get("files"), loaded.get("memo")
                self._entries = files if isinstance(files, dict) else {}
                self._memo = memo if isinstance(memo, dict) else {}

    def memo(self, name: str) -> Any:
        """A value remembered under `name` by an earlier build of this project, or None."""
        return self._memo.get(name)

    def remember(self, name: str, value: Any) -> None:
        if self._memo.get(name) != value:
            self._memo[name] = value
            self._dirty = True

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = os.fspath(path)
        cached = self._entries.get(key)
        if (
            isinstance(cached, list)
            and len(cached) == 3
            and cached[0] == st.st_size
            and cached[1] == st.st_mtime_ns
        ):
            return str(cached[2])
        digest = file_sha256(path)
        self.hashed.append(path)
        if time.time() - st.st_mtime_ns / 1e9 > _RACY_SECONDS:
            self._entries[key] = [st.st_size, st.st_mtime_ns, digest]
            self._dirty = True
        elif key in self._entries:
            del self._entries[key]
            self._dirty = True
        return digest

    def save(self) -> None:
        """Writes the cache back if this run learnt something; never fails a build."""
        if self.path is None or not self._dirty:
            return
        from hatch_lambda.archive import atomic_path

        try:
            with atomic_path(self.path) as tmp:
                data = {"version": _CACHE_VERSION, "files": self._entries, "memo": self._memo}
                tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")), "utf-8")
        except OSError:
            pass  # a cache we cannot write only costs rehashing next time
        self._dirty = False


def files_payload(entries: Iterable[Entry], hashes: FileHashCache) -> list[list[str]]:
    """[path inside the archive, mode, sha256] per file, sorted by path: what decides the archive's bytes."""
    rows = [
        [e.arcname, MODE_EXECUTABLE if e.executable else MODE_REGULAR, hashes.sha256(e.source)] for e in entries
    ]
    rows.sort(key=lambda row: row[0])
    return rows


def binary_layer_payload(entries: Iterable[Entry], hashes: FileHashCache) -> dict[str, Any]:
    """A binary layer is exactly its files; its name is not part of it (same files, same zip)."""
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "archive_format": ARCHIVE_FORMAT_VERSION,
        "kind": "binary",
        "files": files_payload(entries, hashes),
    }


def function_payload(entries: Iterable[Entry], hashes: FileHashCache, timestamp: int) -> dict[str, Any]:
    """The function zip's inputs: its files and the zip timestamp (SOURCE_DATE_EPOCH); for the manifest."""
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "archive_format": ARCHIVE_FORMAT_VERSION,
        "kind": "function",
        "timestamp": timestamp,
        "files": files_payload(entries, hashes),
    }
