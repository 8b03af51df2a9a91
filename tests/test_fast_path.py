"""The warm path: no installer, no network, no layer input read, same bytes; and what the user is told."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hatch_lambda import binlayer, deps, fingerprint
from hatch_lambda.store import LayerStore
from helpers import build, listing, make_project, make_wheel, sha256_file

OLD = 1_600_000_000
MANIFEST = "demo_fn-1.0.0-lambda.json"


def config(wheels: Path | None = None) -> str:
    pip = f'pip-args = ["--no-index", "--find-links", "{wheels.as_posix()}"]\n' if wheels else ""
    return f"""
        handler = "demo_fn.handler.main"
        {pip}
        [[tool.hatch.build.targets.lambda.layers]]
        paths = ["bin"]
        """


def project(tmp_path: Path, wheels: Path | None = None, dependencies: tuple[str, ...] = ("tinydep==1.0",)) -> Path:
    wheel_dir = tmp_path / "wheels"
    make_wheel(wheel_dir, "tinydep", "1.0")
    make_wheel(wheel_dir, "tinydep", "1.1")
    root = make_project(tmp_path / "p", config(wheels), dependencies=dependencies,
                        files={"bin/tool": "#!/bin/sh\necho hi\n", "bin/data.txt": "data\n"})
    for path in (root / "bin").iterdir():
        os.utime(path, (OLD, OLD))  # old enough for the file-hash cache to trust
    return root


@pytest.fixture(autouse=True)
def no_global_find_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)


def manifest_of(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "dist" / MANIFEST).read_text()))


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, sha256_file(p)) for p in sorted((root / "dist").iterdir())}


def without_status(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in layer.items() if k not in {"status", "changes"}} for layer in layers]


def offline_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any installer run, subprocess or network connection fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the warm path must not do this: {args!r}")

    monkeypatch.setattr(deps, "install", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)


# --- no installer, no network, no input read --------------------------------------------------------------


def test_warm_rebuild_runs_no_installer_and_opens_no_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    before = snapshot(root)
    offline_guards(monkeypatch)
    build(root)
    after = manifest_of(root)
    assert [layer["status"] for layer in after["layers"]] == ["reused", "reused"]
    layer_files = [layer["file"] for layer in after["layers"]]
    # The layer zips are the very same files: not rewritten, not even relinked.
    assert {f: snapshot(root)[f] for f in layer_files} == {f: before[f] for f in layer_files}


def test_warm_rebuild_reads_no_binary_layer_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    read: list[Path] = []
    real = fingerprint.file_sha256

    def recording(path: Path) -> str:
        read.append(path)
        return real(path)

    monkeypatch.setattr(fingerprint, "file_sha256", recording)
    opened: list[str] = []
    real_open = open

    def tracking_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", tracking_open)
    build(root)
    assert not [p for p in read if "bin" in p.parts]
    assert not [p for p in opened if f"{os.sep}bin{os.sep}" in p]
    assert [layer["status"] for layer in manifest_of(root)["layers"]] == ["reused", "reused"]


def test_function_only_build_does_not_look_at_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)

    def forbidden(*args: object) -> None:
        raise AssertionError("layers were fingerprinted")

    monkeypatch.setattr(binlayer, "collect", forbidden)
    monkeypatch.setattr(deps, "resolve", forbidden)
    build(root, ["function"])
    assert len(manifest_of(root)["layers"]) == 2


def test_index_unreachable_warm_succeeds_cold_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Where wheels come from is not a layer input: the first build finds them through the environment.
    root = project(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    build(root)
    layers = manifest_of(root)["layers"]

    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # with 0, pip does not print the connection error at all
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    (root / "demo_fn" / "handler.py").write_text("def main(event, context):\n    return 2\n")
    build(root)
    warm = manifest_of(root)
    assert [layer["status"] for layer in warm["layers"]] == ["reused", "reused"]
    assert without_status(warm["layers"]) == without_status(layers)

    monkeypatch.setenv("HATCH_LAMBDA_STORE", str(tmp_path / "empty-store"))
    with pytest.raises(SystemExit):
        build(root)
    err = capsys.readouterr().err
    # deps.py words pip's failure; the engine adds that the layer had to be installed and why that needs pip.
    assert "tinydep" in err and "python3.12 on x86_64" in err
    assert "pip could not reach the package index to build the dependency layer" in err
    assert f"is not in the layer store {tmp_path / 'empty-store'}, so it had to be installed" in err
    assert "a build whose layers are all in the store needs no package index" in err
    # The failed cold build left the previous artifacts as they were.
    assert manifest_of(root) == warm


# --- what changes and what does not -----------------------------------------------------------------------


def test_code_only_edit_changes_only_the_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    before = manifest_of(root)
    layer_bytes = {layer["file"]: sha256_file(root / "dist" / layer["file"]) for layer in before["layers"]}
    (root / "demo_fn" / "handler.py").write_text("def main(event, context):\n    return {'ok': False}\n")
    monkeypatch.setattr(deps, "install", lambda *a, **k: pytest.fail("installer ran"))
    build(root)
    after = manifest_of(root)
    assert [layer["status"] for layer in after["layers"]] == ["reused", "reused"]
    assert [layer["changes"] for layer in after["layers"]] == [[], []]
    assert without_status(after["layers"]) == without_status(before["layers"])
    assert {f: sha256_file(root / "dist" / f) for f in layer_bytes} == layer_bytes
    assert after["function"]["sha256"] != before["function"]["sha256"]
    assert after["function"]["code_sha256"] != before["function"]["code_sha256"]
    assert {k: v for k, v in after.items() if k not in {"function", "layers"}} == {
        k: v for k, v in before.items() if k not in {"function", "layers"}
    }


def test_no_change_rebuild_rewrites_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    build(root)  # the manifest now says "reused"
    before = snapshot(root)
    build(root)
    after = snapshot(root)
    # Same files, same inodes, same bytes; only the manifest's mtime moves: it marks the last build, which is
    # how `hatch-lambda invoke` picks it among the manifests of other versions.
    manifest = "demo_fn-1.0.0-lambda.json"
    assert after[manifest][0] == before[manifest][0] and after[manifest][2] == before[manifest][2]
    assert after[manifest][1] >= before[manifest][1]
    assert {k: v for k, v in after.items() if k != manifest} == {k: v for k, v in before.items() if k != manifest}


def test_function_zip_byte_identical_when_code_is(tmp_path: Path) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    function = root / "dist" / "demo_fn-1.0.0-function.zip"
    first = sha256_file(function)
    (root / "demo_fn" / "handler.py").write_text((root / "demo_fn" / "handler.py").read_text())
    build(root)
    assert sha256_file(function) == first == manifest_of(root)["function"]["sha256"]


@pytest.mark.parametrize("how", ["config", "env"])
def test_forced_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    before = manifest_of(root)
    installs: list[str] = []
    real_install = deps.install

    def counting(*args: Any, **kwargs: Any) -> None:
        installs.append("pip")
        real_install(*args, **kwargs)

    monkeypatch.setattr(deps, "install", counting)
    if how == "config":
        text = (root / "pyproject.toml").read_text()
        (root / "pyproject.toml").write_text(
            text.replace('handler = "demo_fn', 'force-rebuild = true\nhandler = "demo_fn', 1)
        )
        reason = "forced rebuild (force-rebuild = true)"
    else:
        monkeypatch.setenv("HATCH_LAMBDA_FORCE_REBUILD", "1")
        reason = "forced rebuild (HATCH_LAMBDA_FORCE_REBUILD=1)"
    build(root)
    after = manifest_of(root)
    assert installs == ["pip"]
    assert [(layer["status"], layer["changes"]) for layer in after["layers"]] == [("built", [reason])] * 2
    assert without_status(after["layers"]) == without_status(before["layers"])


def test_force_env_off_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    monkeypatch.setenv("HATCH_LAMBDA_FORCE_REBUILD", "0")
    build(root)
    assert [layer["status"] for layer in manifest_of(root)["layers"]] == ["reused", "reused"]


# --- stale layer zips -------------------------------------------------------------------------------------


def test_stale_layer_zip_removed_but_kept_in_store(tmp_path: Path, isolated_store: Path) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    old_bin = manifest_of(root)["layers"][1]
    (root / "dist" / "demo_fn-bin-notafingerprint.zip").write_text("not ours")
    (root / "dist" / "other_project-bin-0123456789ab.zip").write_text("not ours")
    (root / "bin" / "tool").write_text("#!/bin/sh\necho changed\n")
    build(root)
    new_bin = manifest_of(root)["layers"][1]
    assert new_bin["file"] != old_bin["file"]
    names = sorted(p.name for p in (root / "dist").iterdir())
    assert old_bin["file"] not in names
    assert "demo_fn-bin-notafingerprint.zip" in names and "other_project-bin-0123456789ab.zip" in names
    assert LayerStore(isolated_store).lookup(old_bin["fingerprint"]) is not None
    # Switching back is instant: the old entry is reused and the new zip goes stale in turn.
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    build(root)
    back = manifest_of(root)["layers"][1]
    assert (back["file"], back["status"]) == (old_bin["file"], "reused")
    assert new_bin["file"] not in {p.name for p in (root / "dist").iterdir()}


def test_layer_dropped_from_config_is_removed(tmp_path: Path) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    old_bin = manifest_of(root)["layers"][1]["file"]
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text[: text.index("[[tool.hatch.build.targets.lambda.layers]]")])
    build(root)
    assert [layer["name"] for layer in manifest_of(root)["layers"]] == ["deps"]
    assert not (root / "dist" / old_bin).exists()


def test_failed_build_removes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    before = sorted(p.name for p in (root / "dist").iterdir())
    (root / "bin" / "tool").write_text("#!/bin/sh\necho changed\n")
    (root / "demo_fn" / "handler.py").write_text("def other(event, context):\n    pass\n")
    with pytest.raises(SystemExit):
        build(root)
    assert sorted(p.name for p in (root / "dist").iterdir()) == before


# --- what the user sees -----------------------------------------------------------------------------------


def test_table_names_the_changed_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    capsys.readouterr()
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text.replace('"tinydep==1.0"', '"tinydep==1.1"'))
    build(root)
    err = capsys.readouterr().err
    manifest = manifest_of(root)
    deps_layer, bin_layer = manifest["layers"]
    assert deps_layer["changes"] == ["pyproject.toml changed: tinydep 1.0 → 1.1"]
    assert "python/tinydep-1.1.dist-info/METADATA" in listing(root / "dist" / deps_layer["file"])
    fn = manifest["function"]
    lines = err[err.index("demo_fn 1.0.0 for python3.12 x86_64"):].splitlines()
    assert lines[1].split() == ["artifact", "zipped", "unzipped", "status"]
    assert (lines[2].split()[0], lines[2].split()[-1]) == (fn["file"], "built")
    assert lines[3].split()[0] == deps_layer["file"] and lines[3].endswith("built")
    assert lines[4].split()[0] == bin_layer["file"] and lines[4].endswith("reused")
    assert lines[5:7] == ["layers rebuilt because:", "  deps: pyproject.toml changed: tinydep 1.0 → 1.1"]


def test_table_names_the_changed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    (root / "bin" / "tool").write_text("#!/bin/sh\necho changed\n")
    (root / "bin" / "new.txt").write_text("new\n")
    (root / "bin" / "data.txt").chmod(0o644)
    capsys.readouterr()
    build(root)
    err = capsys.readouterr().err
    assert (
        "  bin: files changed: bin/data.txt (mode 755 → 644), bin/tool; files added: bin/new.txt" in err
    )


def test_table_says_when_everything_was_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    capsys.readouterr()
    build(root)
    err = capsys.readouterr().err
    assert "all 2 layers were reused from the layer store: no installer ran" in err
    assert "rebuilt because" not in err


# --- the dependency layer's memo --------------------------------------------------------------------------


def write_uv_lock(root: Path, wheel: Path, version: str) -> None:
    import hashlib

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "uv.lock").write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "demo-fn"\nversion = "1.0.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "tinydep" }]\n\n'
        f'[[package]]\nname = "tinydep"\nversion = "{version}"\nsource = {{ registry = "https://pypi.org/simple" }}\n'
        f'wheels = [{{ url = "https://example.invalid/{wheel.name}", hash = "sha256:{digest}" }}]\n',
        "utf-8",
    )


def locked_project(tmp_path: Path) -> Path:
    root = project(tmp_path, tmp_path / "wheels", dependencies=("tinydep",))
    write_uv_lock(root, tmp_path / "wheels" / "tinydep-1.0-py3-none-any.whl", "1.0")
    os.utime(root / "uv.lock", (OLD, OLD))
    return root


def test_warm_rebuild_neither_parses_the_lock_nor_asks_pip_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hatch_lambda import locks

    root = locked_project(tmp_path)
    build(root)
    before = manifest_of(root)["layers"]
    forbidden = lambda *a, **k: pytest.fail("recomputed on the warm path")  # noqa: E731
    monkeypatch.setattr(locks, "read_lock", forbidden)
    monkeypatch.setattr(deps, "installer_identity", forbidden)
    monkeypatch.setattr(deps, "resolve", forbidden)
    build(root)
    after = manifest_of(root)["layers"]
    assert [layer["status"] for layer in after] == ["reused", "reused"]
    assert without_status(after) == without_status(before)


def test_lock_edit_is_seen_through_the_memo(tmp_path: Path) -> None:
    root = locked_project(tmp_path)
    build(root)
    write_uv_lock(root, tmp_path / "wheels" / "tinydep-1.1-py3-none-any.whl", "1.1")
    build(root)
    deps_layer = manifest_of(root)["layers"][0]
    assert (deps_layer["status"], deps_layer["changes"]) == ("built", ["uv.lock changed: tinydep 1.0 → 1.1"])
    assert "python/tinydep-1.1.dist-info/METADATA" in listing(root / "dist" / deps_layer["file"])


def test_memo_never_builds_a_layer(tmp_path: Path, isolated_store: Path) -> None:
    # A memo that says something else than a fresh resolution: the store misses, and the layer that gets
    # used is the one the lock really describes.
    root = locked_project(tmp_path)
    build(root)
    good = manifest_of(root)["layers"][0]
    cache = next((isolated_store / "file-hashes").glob("*.json"))
    data = json.loads(cache.read_text())
    data["memo"]["dependency-layer"]["payload"]["inputs"]["requirements"] = ["tinydep==9.9"]
    cache.write_text(json.dumps(data))
    build(root)
    layer = manifest_of(root)["layers"][0]
    assert (layer["fingerprint"], layer["sha256"], layer["status"]) == (good["fingerprint"], good["sha256"], "reused")


def test_requirements_lock_is_read_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hatch_lambda import locks

    root = project(tmp_path, tmp_path / "wheels", dependencies=("tinydep",))
    (root / "requirements.txt").write_text("tinydep==1.0\n")
    build(root)
    calls: list[Path] = []
    real = locks.read_lock

    def counting(path: Path, *args: Any) -> Any:
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(locks, "read_lock", counting)
    build(root)
    assert [p.name for p in calls] == ["requirements.txt"]


def test_memo_repeats_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, tmp_path / "wheels")
    build(root)
    first = capsys.readouterr().err
    build(root)
    second = capsys.readouterr().err
    warning = "warning: The dependency layer is built from pyproject.toml's declared dependencies"
    assert warning in first and warning in second
