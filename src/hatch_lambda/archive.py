"""Writes deterministic zips (sorted entries, one timestamp, normalised modes) atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hatchling.builders.utils import normalize_file_permissions, set_zip_info_mode

from hatch_lambda.errors import HatchLambdaError

# Bumped whenever the bytes we write for the same inputs change; part of every fingerprint.
ARCHIVE_FORMAT_VERSION = 1

DEFAULT_EPOCH = 1580601600  # hatchling's default reproducible timestamp (2020-02-02)
_ZIP_MIN = 315532800  # 1980-01-01, the earliest time a zip entry can hold
_ZIP_MAX = 4354819199  # 2107-12-31 23:59:59, the latest
_CREATE_SYSTEM_UNIX = 3
_COMPRESSION = zipfile.ZIP_DEFLATED
_LEVEL = 6


def reproducible_timestamp(environ: dict[str, str] | None = None) -> int:
    """SOURCE_DATE_EPOCH clamped into the range a zip can hold; a malformed value is a clear error."""
    env = os.environ if environ is None else environ
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return DEFAULT_EPOCH
    try:
        value = int(raw.strip())
    except ValueError:
        message = (
            f"Environment variable SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not {raw!r}; "
            "unset it or set it to e.g. the last commit time (`git log -1 --format=%ct`)."
        )
        raise HatchLambdaError(message) from None
    return min(max(value, _ZIP_MIN), _ZIP_MAX)


@dataclass(frozen=True)
class Entry:
    """One file of an archive: where it comes from and its path inside the zip."""

    source: Path
    arcname: str
    executable: bool


@dataclass(frozen=True)
class ArchiveInfo:
    entries: int
    unzipped_size: int


def entries_from_directory(root: Path, prefix: str = "") -> list[Entry]:
    """Lists the regular files under `root` (symlinks to files are followed) as entries under `prefix`."""
    found: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = path.relative_to(root).as_posix()
            found.append(Entry(path, f"{prefix}{rel}", bool(st.st_mode & 0o111)))
    return found


def _date_time(timestamp: int) -> tuple[int, int, int, int, int, int]:
    import time

    t = time.gmtime(timestamp)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _directory_names(arcnames: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for name in arcnames:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return dirs


def write_zip(destination: Path, entries: Iterable[Entry], timestamp: int) -> ArchiveInfo:
    """Writes a deterministic zip to `destination` through a temp file in the same directory.

    Directory entries are written too (unzip and Lambda create them anyway; explicit entries keep
    their mode 0755 predictable). A killed build leaves at most a `.tmp` file, never a partial zip
    under the final name.
    """
    items = sorted(entries, key=lambda e: e.arcname)
    names = [e.arcname for e in items]
    duplicates = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    if duplicates:
        raise HatchLambdaError(f"Two inputs map to the same path in {destination.name}: {', '.join(duplicates)}")
    date_time = _date_time(timestamp)
    unzipped = 0
    with atomic_path(destination) as tmp, zipfile.ZipFile(tmp, "w", _COMPRESSION, compresslevel=_LEVEL) as zf:
        pending = sorted(_directory_names(names))
        for directory in pending:
            info = zipfile.ZipInfo(directory, date_time)
            info.create_system = _CREATE_SYSTEM_UNIX
            info.external_attr = ((stat.S_IFDIR | 0o755) << 16) | 0x10
            zf.writestr(info, b"")
        for entry in items:
            info = zipfile.ZipInfo(entry.arcname, date_time)
            info.create_system = _CREATE_SYSTEM_UNIX
            info.compress_type = _COMPRESSION
            mode = normalize_file_permissions(stat.S_IFREG | (0o755 if entry.executable else 0o644))
            set_zip_info_mode(info, mode)
            with open(entry.source, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            unzipped += info.file_size
    return ArchiveInfo(len(items), unzipped)


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yields a temp path beside `destination`; on success it replaces `destination`, on error it vanishes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return [info.filename for info in zf.infolist() if not info.is_dir()]
