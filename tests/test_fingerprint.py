"""Layer fingerprints: the canonical encoding, each input that must flip them, and what must not."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from hatch_lambda import deps, fingerprint
from hatch_lambda.archive import Entry
from hatch_lambda.config import DependencyConfig
from hatch_lambda.fingerprint import (
    FileHashCache,
    binary_layer_payload,
    canonical_bytes,
    file_sha256,
)
from hatch_lambda.runtimes import Runtime, Target
from helpers import build, make_project, make_wheel, sha256_file

OLD = 1_600_000_000  # an mtime far enough in the past that the hash cache trusts it


def dep_fp(
    resolved: deps.ResolvedDependencies | None = None,
    target: Target | None = None,
    settings: DependencyConfig | None = None,
) -> str:
    resolved = resolved or deps.ResolvedDependencies("uv.lock", True, ("pydantic==2.14.3", "requests==2.32.3"))
    payload = deps.layer_payload(resolved, target or Target.of("python3.12", "x86_64"), settings or DependencyConfig())
    return fingerprint.fingerprint(payload)


# --- the encoding -----------------------------------------------------------------------------------------


def test_canonical_bytes_are_sorted_compact_ascii() -> None:
    assert canonical_bytes({"b": [2, "é"], "a": {"y": True, "x": None}}) == (
        b'{"a":{"x":null,"y":true},"b":[2,"\\u00e9"]}'
    )


def test_fingerprint_is_sha256_of_domain_and_canonical_bytes() -> None:
    import hashlib

    expected = hashlib.sha256(b"hatch-lambda layer fingerprint\n" + b'{"a":1}').hexdigest()
    assert fingerprint.fingerprint({"a": 1}) == expected


def test_key_order_does_not_matter() -> None:
    assert fingerprint.fingerprint({"a": 1, "b": 2}) == fingerprint.fingerprint({"b": 2, "a": 1})


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match=r"payload.options.level must be str, int, bool, None, list or dict"):
        canonical_bytes({"options": {"level": 1.0}})


# --- dependency layer: one test per input -----------------------------------------------------------------


def test_dependency_locked_set() -> None:
    bumped = deps.ResolvedDependencies("uv.lock", True, ("pydantic==2.14.4", "requests==2.32.3"))
    assert dep_fp(bumped) != dep_fp()


def test_dependency_locked_set_added_package() -> None:
    more = deps.ResolvedDependencies("uv.lock", True, ("pydantic==2.14.3", "requests==2.32.3", "six==1.17.0"))
    assert dep_fp(more) != dep_fp()


@pytest.mark.parametrize(
    "change",
    [
        {"source": "pylock.toml"},
        {"locked": False},
        {"hashed": True},
        {"complete": True},
        {"roots": ("pydantic",)},
        {"pip_options": ("--index-url", "https://mirror.example/simple")},
    ],
    ids=lambda change: next(iter(change)),
)
def test_dependency_lock_inputs(change: dict[str, Any]) -> None:
    base = deps.ResolvedDependencies("uv.lock", True, ("pydantic==2.14.3", "requests==2.32.3"))
    assert dep_fp(dataclasses.replace(base, **change)) != dep_fp(base)


def test_dependency_lock_location_on_disk_is_not_an_input(tmp_path: Path) -> None:
    base = deps.ResolvedDependencies("uv.lock", True, ("pydantic==2.14.3",), root=tmp_path / "a")
    assert dep_fp(dataclasses.replace(base, root=tmp_path / "elsewhere")) == dep_fp(base)


def test_dependency_declared_requirements_when_unlocked() -> None:
    a = deps.ResolvedDependencies("pyproject.toml", False, ("requests>=2",))
    b = deps.ResolvedDependencies("pyproject.toml", False, ("requests>=2.31",))
    assert dep_fp(a) != dep_fp(b)


def test_dependency_runtime() -> None:
    assert dep_fp(target=Target.of("python3.13", "x86_64")) != dep_fp()


def test_dependency_python_version() -> None:
    # Same runtime name and glibc, another interpreter: only the Python version (and ABI) differ.
    other = Target(Runtime("python3.12", (3, 13), "Amazon Linux 2023", (2, 34)), "x86_64")
    payload = deps.layer_payload(deps.ResolvedDependencies("uv.lock", True, ("a==1",)), other, DependencyConfig())
    assert payload["python_version"] == "3.13"
    assert dep_fp(target=other) != dep_fp()


def test_dependency_architecture() -> None:
    assert dep_fp(target=Target.of("python3.12", "arm64")) != dep_fp()


def test_dependency_platform_tags() -> None:
    # Same runtime and Python, another glibc: only the platform tags differ.
    other = Target(Runtime("python3.12", (3, 12), "Amazon Linux 2023", (2, 28)), "x86_64")
    assert other.platform_tags != Target.of("python3.12", "x86_64").platform_tags
    assert dep_fp(target=other) != dep_fp()


def test_dependency_installer_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dep_fp()
    monkeypatch.setattr(deps, "installer_identity", lambda: {"name": "pip", "version": "99.0"})
    assert dep_fp() != before


def test_dependency_installer_name(monkeypatch: pytest.MonkeyPatch) -> None:
    real = deps.installer_identity()
    before = dep_fp()
    monkeypatch.setattr(deps, "installer_identity", lambda: {**real, "name": "uv"})
    assert dep_fp() != before


@pytest.mark.parametrize(
    "change",
    [
        {"pip_args": ("--no-deps",)},
        {"exclude_packages": ("boto3",)},
        {"exclude_patterns": ("**/tests/**",)},
        {"strip_bytecode": False},
        {"keep_dist_info": False},
    ],
    ids=lambda change: next(iter(change)),
)
def test_dependency_install_and_slimming_options(change: dict[str, Any]) -> None:
    assert dep_fp(settings=DependencyConfig(**change)) != dep_fp()


def test_dependency_extras_and_groups_act_through_requirements() -> None:
    # They choose requirement lines (fingerprinted above); the same lines give the same layer.
    assert dep_fp(settings=DependencyConfig(extras=("fast",), groups=("lambda",))) == dep_fp()


def test_dependency_archive_format_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dep_fp()
    monkeypatch.setattr(deps, "ARCHIVE_FORMAT_VERSION", deps.ARCHIVE_FORMAT_VERSION + 1)
    assert dep_fp() != before


def test_dependency_fingerprint_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dep_fp()
    monkeypatch.setattr(deps, "FINGERPRINT_VERSION", deps.FINGERPRINT_VERSION + 1)
    assert dep_fp() != before


def test_dependency_payload_has_every_documented_input() -> None:
    payload = deps.layer_payload(deps.ResolvedDependencies("uv.lock", True, ("a==1",)),
                                 Target.of("python3.11", "arm64"), DependencyConfig(pip_args=("--pre",)))
    assert payload["runtime"] == "python3.11"
    assert payload["python_version"] == "3.11"
    assert payload["architecture"] == "arm64"
    assert payload["platform_tags"][0] == "manylinux_2_26_aarch64"
    assert payload["installer"]["name"] == "pip"
    assert payload["options"]["pip_args"] == ["--pre"]
    assert payload["inputs"]["requirements"] == ["a==1"]
    # No absolute path, no timestamp: the encoding mentions neither this checkout nor the clock.
    text = canonical_bytes(payload).decode()
    assert os.fspath(Path.cwd()) not in text and str(int(time.time()))[:6] not in text


# --- binary layer: one test per input ---------------------------------------------------------------------


def bin_fp(tmp_path: Path, files: dict[str, tuple[str, bool]]) -> str:
    entries = []
    for arcname, (text, executable) in sorted(files.items()):
        source = tmp_path / "src" / arcname
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        entries.append(Entry(source, arcname, executable))
    return fingerprint.fingerprint(binary_layer_payload(entries, FileHashCache(None)))


def test_binary_file_content(tmp_path: Path) -> None:
    assert bin_fp(tmp_path / "a", {"bin/x": ("1", True)}) != bin_fp(tmp_path / "b", {"bin/x": ("2", True)})


def test_binary_file_mode(tmp_path: Path) -> None:
    assert bin_fp(tmp_path / "a", {"bin/x": ("1", True)}) != bin_fp(tmp_path / "b", {"bin/x": ("1", False)})


def test_binary_file_layer_path(tmp_path: Path) -> None:
    assert bin_fp(tmp_path / "a", {"bin/x": ("1", True)}) != bin_fp(tmp_path / "b", {"lib/x": ("1", True)})


def test_binary_file_added(tmp_path: Path) -> None:
    one = {"bin/x": ("1", True)}
    assert bin_fp(tmp_path / "a", one) != bin_fp(tmp_path / "b", {**one, "bin/y": ("", False)})


def test_binary_archive_format_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = bin_fp(tmp_path / "a", {"bin/x": ("1", True)})
    monkeypatch.setattr(fingerprint, "ARCHIVE_FORMAT_VERSION", fingerprint.ARCHIVE_FORMAT_VERSION + 1)
    assert bin_fp(tmp_path / "b", {"bin/x": ("1", True)}) != before


def test_binary_fingerprint_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = bin_fp(tmp_path / "a", {"bin/x": ("1", True)})
    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", fingerprint.FINGERPRINT_VERSION + 1)
    assert bin_fp(tmp_path / "b", {"bin/x": ("1", True)}) != before


def test_binary_layer_name_is_not_an_input(tmp_path: Path) -> None:
    files = {"bin/tool": "#!/bin/sh\necho hi\n"}
    layer = '[[tool.hatch.build.targets.lambda.layers]]\nname = "{}"\npaths = ["bin"]\n'
    one = make_project(tmp_path / "one", layer.format("bin"), files=files)
    two = make_project(tmp_path / "two", layer.format("tools"), files=files)
    build(one)
    build(two)
    a, b = manifest_of(one)["layers"][0], manifest_of(two)["layers"][0]
    assert (a["name"], b["name"]) == ("bin", "tools")
    assert (a["fingerprint"], a["sha256"]) == (b["fingerprint"], b["sha256"])
    assert b["status"] == "reused"  # the store entry the first project made


def test_binary_ignores_source_path_mtime_and_inode(tmp_path: Path) -> None:
    first = bin_fp(tmp_path / "a", {"bin/x": ("1", True)})
    second_dir = tmp_path / "elsewhere" / "deeper"
    second = bin_fp(second_dir, {"bin/x": ("1", True)})  # another path, another inode
    os.utime(second_dir / "src" / "bin" / "x", (OLD, OLD))
    again = fingerprint.fingerprint(
        binary_layer_payload([Entry(second_dir / "src" / "bin" / "x", "bin/x", True)], FileHashCache(None))
    )
    assert first == second == again


# --- the file-hash cache ----------------------------------------------------------------------------------


def test_hash_cache_trusts_unchanged_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "tool"
    path.write_bytes(b"abc")
    os.utime(path, (OLD, OLD))
    cache = FileHashCache(tmp_path / "cache.json")
    digest = cache.sha256(path)
    cache.save()
    # Same size, same mtime, other bytes: proves the second run did not read the file.
    path.write_bytes(b"xyz")
    os.utime(path, (OLD, OLD))
    again = FileHashCache(tmp_path / "cache.json")
    assert again.sha256(path) == digest
    assert again.hashed == []


def test_hash_cache_rehashes_on_mtime_change(tmp_path: Path) -> None:
    path = tmp_path / "tool"
    path.write_bytes(b"abc")
    os.utime(path, (OLD, OLD))
    cache = FileHashCache(tmp_path / "cache.json")
    cache.sha256(path)
    cache.save()
    path.write_bytes(b"xyz")
    os.utime(path, (OLD + 1, OLD + 1))
    again = FileHashCache(tmp_path / "cache.json")
    assert again.sha256(path) == file_sha256(path)
    assert again.hashed == [path]


def test_hash_cache_does_not_trust_a_file_modified_just_now(tmp_path: Path) -> None:
    # Its mtime may not move if it changes again within the same clock tick.
    path = tmp_path / "tool"
    path.write_bytes(b"abc")
    cache = FileHashCache(tmp_path / "cache.json")
    cache.sha256(path)
    cache.save()
    assert not (tmp_path / "cache.json").exists()


def test_hash_cache_file_damaged_costs_a_rehash(tmp_path: Path) -> None:
    (tmp_path / "cache.json").write_text("{not json")
    path = tmp_path / "tool"
    path.write_bytes(b"abc")
    assert FileHashCache(tmp_path / "cache.json").sha256(path) == file_sha256(path)


def test_hash_cache_records_no_relative_paths_in_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "tool"
    path.write_bytes(b"abc")
    os.utime(path, (OLD, OLD))
    cache = FileHashCache(tmp_path / "cache.json")
    cache.sha256(path)
    cache.save()
    assert json.loads((tmp_path / "cache.json").read_text()) == {
        "version": 1, "files": {os.fspath(path): [3, OLD * 10**9, file_sha256(path)]}, "memo": {}
    }


# --- whole builds -----------------------------------------------------------------------------------------


def offline_project(root: Path, wheels: Path) -> Path:
    make_wheel(wheels, "tinydep", "1.0")
    return make_project(
        root,
        f"""
        handler = "demo_fn.handler.main"
        pip-args = ["--no-index", "--find-links", "{wheels.as_posix()}"]
        [[tool.hatch.build.targets.lambda.layers]]
        paths = ["bin"]
        """,
        dependencies=["tinydep==1.0"],
        files={"bin/tool": "#!/bin/sh\necho hi\n", "lib/libx.so": "ELF"},
    )


def manifest_of(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text()))


def test_fresh_copy_elsewhere_same_fingerprints_and_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    wheels = tmp_path / "wheels"
    first = offline_project(tmp_path / "one" / "p", wheels)
    build(first)
    second = tmp_path / "two" / "deeper" / "copy"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("dist"))
    for path in second.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    # Its own empty store: the copy really rebuilds every layer instead of reusing the first's.
    monkeypatch.setenv("HATCH_LAMBDA_STORE", str(tmp_path / "other-store"))
    build(second)
    a, b = manifest_of(first), manifest_of(second)
    assert [layer["status"] for layer in b["layers"]] == ["built", "built"]
    assert [(x["name"], x["fingerprint"], x["sha256"]) for x in a["layers"]] == [
        (x["name"], x["fingerprint"], x["sha256"]) for x in b["layers"]
    ]
    for layer in a["layers"]:
        assert sha256_file(first / "dist" / layer["file"]) == sha256_file(second / "dist" / layer["file"])
    assert a["function"]["sha256"] == b["function"]["sha256"]
    assert a["function"]["fingerprint"] == b["function"]["fingerprint"]


def _interpreter_at(prefix: Path) -> Path:
    """This interpreter, reachable at another path (a venv stays a venv: its config and site-packages follow)."""
    import sys
    import sysconfig

    link = prefix / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    if sys.prefix != sys.base_prefix:
        # A symlinked venv interpreter finds its venv through pyvenv.cfg next to (or above) the link.
        shutil.copy2(Path(sys.prefix) / "pyvenv.cfg", prefix / "pyvenv.cfg")
        site = Path(sysconfig.get_path("purelib"))
        mirror = prefix / site.relative_to(sys.prefix)
        mirror.parent.mkdir(parents=True)
        mirror.symlink_to(site)
    return link


def test_dependency_layer_bytes_do_not_depend_on_the_interpreter_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "clitool", "1.0", files={
        "clitool/__init__.py": "def main():\n    pass\n",
        "clitool-1.0.dist-info/entry_points.txt": "[console_scripts]\nclitool = clitool:main\n",
    })
    root = make_project(tmp_path / "p", f'pip-args = ["--no-index", "--find-links", "{wheels.as_posix()}"]\n',
                        dependencies=["clitool==1.0"])
    shas = []
    for where in ("short", "a/much/longer/path/to/the/interpreter"):
        link = _interpreter_at(tmp_path / where)
        monkeypatch.setattr(sys, "executable", str(link))
        monkeypatch.setenv("HATCH_LAMBDA_STORE", str(tmp_path / f"store-{len(shas)}"))
        build(root)
        shas.append(manifest_of(root)["layers"][0]["sha256"])
    assert shas[0] == shas[1]
