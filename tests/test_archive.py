"""Deterministic zips: order, timestamps, modes, SOURCE_DATE_EPOCH, atomic writes."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from hatch_lambda import archive
from hatch_lambda.archive import Entry
from hatch_lambda.errors import HatchLambdaError


def _files(root: Path) -> list[Entry]:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "b.py").write_text("b = 1\n")
    (root / "pkg" / "a.py").write_text("a = 1\n")
    tool = root / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o700)
    return [
        Entry(root / "tool.sh", "bin/tool.sh", True),
        Entry(root / "pkg" / "b.py", "pkg/b.py", False),
        Entry(root / "pkg" / "a.py", "pkg/a.py", False),
    ]


def test_sorted_entries_with_directories(tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    info = archive.write_zip(out, _files(tmp_path / "src"), archive.DEFAULT_EPOCH)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["bin/", "pkg/", "bin/tool.sh", "pkg/a.py", "pkg/b.py"]
    assert info.entries == 3
    assert info.unzipped_size == len("#!/bin/sh\n") + 12


def test_modes_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    archive.write_zip(out, _files(tmp_path / "src"), archive.DEFAULT_EPOCH)
    with zipfile.ZipFile(out) as zf:
        modes = {i.filename: (i.external_attr >> 16) & 0o7777 for i in zf.infolist()}
        assert modes == {"bin/": 0o755, "pkg/": 0o755, "bin/tool.sh": 0o755, "pkg/a.py": 0o644, "pkg/b.py": 0o644}
        assert {i.create_system for i in zf.infolist()} == {3}
        assert {i.date_time for i in zf.infolist()} == {(2020, 2, 2, 0, 0, 0)}


def test_same_bytes_regardless_of_mtime_and_path(tmp_path: Path) -> None:
    first = tmp_path / "one.zip"
    archive.write_zip(first, _files(tmp_path / "a"), archive.DEFAULT_EPOCH)
    entries = _files(tmp_path / "elsewhere" / "b")
    for e in entries:
        os.utime(e.source, (1_700_000_000, 1_700_000_000))
    second = tmp_path / "two.zip"
    archive.write_zip(second, entries, archive.DEFAULT_EPOCH)
    assert first.read_bytes() == second.read_bytes()


def test_duplicate_arcname_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(HatchLambdaError, match=r"Two inputs map to the same path in x.zip: a/f"):
        archive.write_zip(tmp_path / "x.zip", [Entry(src, "a/f", False), Entry(src, "a/f", False)], 0)
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, archive.DEFAULT_EPOCH),
        ("", archive.DEFAULT_EPOCH),
        ("1700000000", 1_700_000_000),
        (" 1700000000 ", 1_700_000_000),
        ("0", 315532800),  # before 1980: clamped to the zip epoch
        ("99999999999", 4354819199),  # after 2107: clamped to the last zip second
    ],
)
def test_source_date_epoch(value: str | None, expected: int) -> None:
    env = {} if value is None else {"SOURCE_DATE_EPOCH": value}
    assert archive.reproducible_timestamp(env) == expected


def test_source_date_epoch_malformed() -> None:
    with pytest.raises(HatchLambdaError) as info:
        archive.reproducible_timestamp({"SOURCE_DATE_EPOCH": "2024-01-01"})
    assert str(info.value).startswith(
        "Environment variable SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not '2024-01-01'"
    )


def test_killed_write_leaves_no_final_file(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    out = tmp_path / "x.zip"
    with pytest.raises(Boom), archive.atomic_path(out) as tmp:
        tmp.write_bytes(b"partial")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_existing(tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    out.write_bytes(b"old")
    with archive.atomic_path(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.zip"]
