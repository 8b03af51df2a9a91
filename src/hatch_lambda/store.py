"""The layer store: built layer zips keyed by fingerprint, shared by all projects, verified before reuse."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hatch_lambda.archive import atomic_path
from hatch_lambda.errors import StoreError
from hatch_lambda.fingerprint import file_sha256

STORE_ENV = "HATCH_LAMBDA_STORE"
_LAYOUT = "v1"


def default_store_dir(environ: dict[str, str] | None = None) -> Path:
    """$HATCH_LAMBDA_STORE, else the user's cache directory (XDG on Linux, ~/Library/Caches, %LOCALAPPDATA%)."""
    env = os.environ if environ is None else environ
    if env.get(STORE_ENV):
        return Path(env[STORE_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hatch-lambda" / "layers"


@dataclass(frozen=True)
class StoreEntry:
    fingerprint: str
    zip_path: Path
    sha256: str
    size: int
    unzipped_size: int
    payload: dict[str, Any]


class LayerStore:
    """Content-addressed: `<root>/v1/<fp[:2]>/<fp>.zip` plus `<fp>.json` (hash, size, mtime, payload).

    The record is written after the zip, both atomically, so a killed build leaves either nothing or a
    zip without a record, which is never reused. Reuse trusts the record while the zip's size and mtime
    match it, and rehashes otherwise: a truncated or altered entry is dropped and rebuilt.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, fingerprint: str) -> tuple[Path, Path]:
        folder = self.root / _LAYOUT / fingerprint[:2]
        return folder / f"{fingerprint}.zip", folder / f"{fingerprint}.json"

    def lookup(self, fingerprint: str) -> StoreEntry | None:
        zip_path, record_path = self._paths(fingerprint)
        try:
            record = json.loads(record_path.read_text("utf-8"))
            st = zip_path.stat()
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
            return None
        if st.st_size != record.get("size"):
            self._discard(fingerprint)
            return None
        if st.st_mtime_ns != record.get("mtime_ns"):
            if file_sha256(zip_path) != record.get("sha256"):
                self._discard(fingerprint)
                return None
            record["mtime_ns"] = st.st_mtime_ns
            self._write_record(record_path, record)
        return StoreEntry(
            fingerprint,
            zip_path,
            str(record["sha256"]),
            int(record["size"]),
            int(record.get("unzipped_size", 0)),
            dict(record.get("payload", {})),
        )

    def payload(self, fingerprint: str) -> dict[str, Any] | None:
        """The inputs recorded for a fingerprint (to explain what changed), or None if unknown."""
        try:
            record = json.loads(self._paths(fingerprint)[1].read_text("utf-8"))
        except (OSError, ValueError):
            return None
        payload = record.get("payload") if isinstance(record, dict) else None
        return payload if isinstance(payload, dict) else None

    def put(self, fingerprint: str, built: Path, payload: dict[str, Any], unzipped_size: int) -> StoreEntry:
        """Moves a freshly built zip into the store; safe when another build stores the same entry at once."""
        zip_path, record_path = self._paths(fingerprint)
        try:
            zip_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(zip_path) as tmp:
                shutil.copyfile(built, tmp)
            sha = file_sha256(zip_path)
            st = zip_path.stat()
            record = {
                "fingerprint": fingerprint,
                "sha256": sha,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "unzipped_size": unzipped_size,
                "payload": payload,
            }
            self._write_record(record_path, record)
        except OSError as e:
            message = (
                f"Cannot write to the layer store at {self.root}: {e}. Set `tool.hatch.build.targets.lambda.store` "
                f"or the {STORE_ENV} environment variable to a writable directory."
            )
            raise StoreError(message) from e
        return StoreEntry(fingerprint, zip_path, sha, st.st_size, unzipped_size, payload)

    def _write_record(self, record_path: Path, record: dict[str, Any]) -> None:
        with atomic_path(record_path) as tmp:
            tmp.write_text(json.dumps(record, sort_keys=True, indent=1), "utf-8")

    def _discard(self, fingerprint: str) -> None:
        for path in self._paths(fingerprint):
            path.unlink(missing_ok=True)
