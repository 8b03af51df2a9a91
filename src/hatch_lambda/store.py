"""The layer store: built layer zips keyed by fingerprint, shared by all projects, verified before reuse."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hatch_lambda.archive import atomic_path
from hatch_lambda.errors import StoreError
from hatch_lambda.fingerprint import file_sha256

STORE_ENV = "HATCH_LAMBDA_STORE"
LAYOUT = "v1"
SCRATCH_PREFIX = "build-"
_STARTING_PREFIX = ".starting-"
_LOCK_NAME = ".in-use"
# Debris of a killed build that holds no lock we can test (Windows, or killed before locking) is
# removed only once it is this old, so a build running right now never loses its scratch directory.
_STALE_SECONDS = 24 * 3600


def default_store_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$HATCH_LAMBDA_STORE, else the user's cache directory (XDG on Linux, ~/Library/Caches, %LOCALAPPDATA%)."""
    env = os.environ if environ is None else environ
    if env.get(STORE_ENV):
        return Path(env[STORE_ENV]).expanduser()
    return user_cache_dir(env) / "layers"


def store_dir(root: Path, configured: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """$HATCH_LAMBDA_STORE, else the `store` key (relative to the project), else the user's cache directory."""
    env = os.environ if environ is None else environ
    if not env.get(STORE_ENV) and configured:
        return (root / os.path.expanduser(configured)).resolve()
    return default_store_dir(env)


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`hatch-lambda` in the user's cache directory (XDG on Linux, ~/Library/Caches, %LOCALAPPDATA%)."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hatch-lambda"


@dataclass(frozen=True)
class StoreEntry:
    """A verified layer zip in the store and what its record says about it."""

    fingerprint: str
    zip_path: Path
    sha256: str
    size: int
    unzipped_size: int
    payload: dict[str, Any]
    names: tuple[str, ...] | None = None  # file paths inside the zip, for the overlap check


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")), "utf-8")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class LayerStore:
    """Content-addressed: `<root>/v1/<fp[:2]>/<fp>.zip` plus its record `<fp>.json`.

    The record (sha256, size, mtime_ns, unzipped size, the fingerprint's inputs) is written after the zip,
    both atomically, so a build killed at any point leaves nothing, a `.tmp` file, or a zip without a
    record, and none of these is ever reused. Reuse trusts the record while the zip's size and mtime match
    it and rehashes otherwise: a truncated or altered entry is dropped and rebuilt, while reusing an
    unchanged 250 MB layer costs one stat. Entries are immutable once written and identical for identical
    fingerprints, so builds running at once on one store may both write the same entry.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def paths(self, fingerprint: str) -> tuple[Path, Path]:
        """(zip, record) paths of a fingerprint's entry."""
        folder = self.root / LAYOUT / fingerprint[:2]
        return folder / f"{fingerprint}.zip", folder / f"{fingerprint}.json"

    def lookup(self, fingerprint: str) -> StoreEntry | None:
        """The verified entry, or None when there is none or it was damaged (then it is removed)."""
        zip_path, record_path = self.paths(fingerprint)
        record = _read_json(record_path)
        if record is None or record.get("fingerprint") != fingerprint:
            return None
        try:
            st = zip_path.stat()
        except OSError:
            return None
        if st.st_size != record.get("size"):
            self._discard(zip_path, record_path)
            return None
        if st.st_mtime_ns != record.get("mtime_ns"):
            # Touched, copied back from a CI cache, or altered in place with the same size: only the
            # bytes can tell, and they are checked against the hash taken when the entry was stored.
            if file_sha256(zip_path) != record.get("sha256"):
                self._discard(zip_path, record_path)
                return None
            record["mtime_ns"] = st.st_mtime_ns
            with contextlib.suppress(OSError):
                _write_json(record_path, record)
        return _entry(fingerprint, zip_path, record)

    def payload(self, fingerprint: str) -> dict[str, Any] | None:
        """The inputs recorded for a fingerprint (to explain what changed), or None if unknown."""
        record = _read_json(self.paths(fingerprint)[1])
        payload = record.get("payload") if record else None
        return payload if isinstance(payload, dict) else None

    def put(
        self,
        fingerprint: str,
        built: Path,
        payload: Mapping[str, Any],
        unzipped_size: int,
        names: list[str] | None = None,
    ) -> StoreEntry:
        """Stores a freshly built zip (hard-linked, so `built` stays usable) and records it.

        If another build stored the same bytes meanwhile, its file is kept: hard links other builds made
        from it stay the entry's own file.
        """
        zip_path, record_path = self.paths(fingerprint)
        try:
            sha = file_sha256(built)
            zip_path.parent.mkdir(parents=True, exist_ok=True)
            if not _same_bytes(zip_path, sha):
                with atomic_path(zip_path) as tmp:
                    _link_or_copy(built, tmp)
            st = zip_path.stat()
            record: dict[str, Any] = {
                "fingerprint": fingerprint,
                "sha256": sha,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "unzipped_size": unzipped_size,
                "payload": dict(payload),
            }
            if names is not None:
                record["names"] = names
            _write_json(record_path, record)
        except OSError as e:
            raise self._unwritable(e) from e
        return _entry(fingerprint, zip_path, record)

    def _unwritable(self, e: OSError) -> StoreError:
        message = (
            f"Cannot write to the layer store at {self.root}: {e}. Set `tool.hatch.build.targets.lambda.store` "
            f"or the {STORE_ENV} environment variable to a writable directory."
        )
        return StoreError(message)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private directory on the store's file system (so storing a zip is a hard link, not a copy).

        It holds a lock while in use, so `sweep` can tell the debris of a killed build from a directory
        another build is using right now.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # Made under another prefix and renamed once locked: `sweep` never sees it unlocked.
            starting = Path(tempfile.mkdtemp(prefix=_STARTING_PREFIX, dir=self.root))
        except OSError as e:
            raise self._unwritable(e) from e
        path = starting
        lock = open(starting / _LOCK_NAME, "wb")  # noqa: SIM115 - held open for the directory's lifetime
        try:
            _try_lock(lock)
            path = starting.with_name(SCRATCH_PREFIX + starting.name[len(_STARTING_PREFIX):])
            os.rename(starting, path)
            yield path
        finally:
            lock.close()
            shutil.rmtree(path, ignore_errors=True)

    def sweep(self) -> list[Path]:
        """Removes what killed builds left: unlocked scratch directories and stale `.tmp` files."""
        removed: list[Path] = []
        now = time.time()
        try:
            children = list(os.scandir(self.root))
        except OSError:
            return removed
        for child in children:
            if child.name.startswith((SCRATCH_PREFIX, _STARTING_PREFIX)) and child.is_dir(follow_symlinks=False):
                path = Path(child.path)
                if _abandoned(path, now, lockable=child.name.startswith(SCRATCH_PREFIX)):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        layout = self.root / LAYOUT
        for tmp in layout.glob("*/.*.tmp") if layout.is_dir() else ():
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > _STALE_SECONDS:
                    tmp.unlink()
                    removed.append(tmp)
        return removed

    def _discard(self, zip_path: Path, record_path: Path) -> None:
        # The record first: a zip without a record is never reused, whatever happens next.
        for path in (record_path, zip_path):
            with contextlib.suppress(OSError):
                path.unlink()


def _entry(fingerprint: str, zip_path: Path, record: Mapping[str, Any]) -> StoreEntry:
    names = record.get("names")
    payload = record.get("payload")
    return StoreEntry(
        fingerprint,
        zip_path,
        str(record["sha256"]),
        int(record["size"]),
        int(record.get("unzipped_size", 0)),
        dict(payload) if isinstance(payload, dict) else {},
        tuple(names) if isinstance(names, list) else None,
    )


def _same_bytes(path: Path, sha: str) -> bool:
    try:
        return file_sha256(path) == sha
    except OSError:
        return False


def _link_or_copy(source: Path, destination: Path) -> None:
    """Replaces `destination` (an empty temp file) by a hard link to `source`, or a copy across devices."""
    destination.unlink()
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def _try_lock(handle: IO[bytes]) -> bool:
    """Takes an exclusive lock without waiting; False where locks are unavailable or held elsewhere."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: fall back to the age of the directory
        return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _abandoned(path: Path, now: float, *, lockable: bool) -> bool:
    """True for a scratch directory no running build holds (its lock is free, or it is a day old)."""
    if lockable:
        try:
            with open(path / _LOCK_NAME, "rb") as handle:
                if _try_lock(handle):
                    return True
        except OSError:
            pass
    try:
        return now - path.stat().st_mtime > _STALE_SECONDS
    except OSError:
        return False
