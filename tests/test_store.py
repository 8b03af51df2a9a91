"""The layer store: verified reuse, damaged entries rebuilt, concurrent builds, killed builds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hatch_lambda import store as store_mod
from hatch_lambda.store import LayerStore, default_store_dir
from helpers import build, listing, make_project, make_wheel, sha256_file

TESTS = Path(__file__).resolve().parent
LAYER = """
handler = "demo_fn.handler.main"
[[tool.hatch.build.targets.lambda.layers]]
paths = ["bin"]
"""


def manifest_of(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text()))


def only_layer(root: Path) -> dict[str, Any]:
    layers = manifest_of(root)["layers"]
    assert len(layers) == 1
    return dict(layers[0])


def entry_paths(store_root: Path, fp: str) -> tuple[Path, Path]:
    return LayerStore(store_root).paths(fp)


def put_sample(tmp_path: Path, data: bytes = b"PK-not-really-a-zip") -> tuple[LayerStore, Path]:
    built = tmp_path / "built.zip"
    built.write_bytes(data)
    store = LayerStore(tmp_path / "store")
    store.put("ab" * 32, built, {"kind": "binary"}, 10, ["bin/x"])
    return store, store.paths("ab" * 32)[0]


# --- where the store lives --------------------------------------------------------------------------------


def test_default_store_dir_env_wins(tmp_path: Path) -> None:
    assert default_store_dir({"HATCH_LAMBDA_STORE": str(tmp_path / "ci-cache")}) == tmp_path / "ci-cache"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG layout")
def test_default_store_dir_xdg(tmp_path: Path) -> None:
    assert default_store_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "hatch-lambda" / "layers"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG layout")
def test_default_store_dir_home() -> None:
    assert default_store_dir({}) == Path.home() / ".cache" / "hatch-lambda" / "layers"


def test_store_config_key_is_relative_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_store: Path
) -> None:
    monkeypatch.delenv("HATCH_LAMBDA_STORE")
    root = make_project(tmp_path / "p", 'store = ".layer-store"\n' + LAYER, files={"bin/tool": "#!/bin/sh\n"})
    build(root)
    fp = only_layer(root)["fingerprint"]
    assert entry_paths(root / ".layer-store", fp)[0].is_file()
    assert not (isolated_store / "v1").exists()


def test_store_env_wins_over_config(tmp_path: Path, isolated_store: Path) -> None:
    # CI points every project at the one directory it caches, whatever the projects say.
    root = make_project(tmp_path / "p", 'store = ".layer-store"\n' + LAYER, files={"bin/tool": "#!/bin/sh\n"})
    build(root)
    fp = only_layer(root)["fingerprint"]
    assert entry_paths(isolated_store, fp)[0].is_file()
    assert not (root / ".layer-store").exists()


# --- entries ----------------------------------------------------------------------------------------------


def test_put_then_lookup(tmp_path: Path) -> None:
    store, zip_path = put_sample(tmp_path)
    entry = store.lookup("ab" * 32)
    assert entry is not None
    assert (entry.zip_path, entry.sha256, entry.size) == (zip_path, sha256_file(zip_path), zip_path.stat().st_size)
    assert (entry.unzipped_size, entry.payload, entry.names) == (10, {"kind": "binary"}, ("bin/x",))


def test_lookup_trusts_size_and_mtime_without_rehashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = put_sample(tmp_path)

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"rehashed {path}")

    monkeypatch.setattr(store_mod, "file_sha256", no_hashing)
    assert store.lookup("ab" * 32) is not None


def test_truncated_entry_is_dropped(tmp_path: Path) -> None:
    store, zip_path = put_sample(tmp_path)
    with open(zip_path, "r+b") as f:
        f.truncate(5)
    assert store.lookup("ab" * 32) is None
    assert not zip_path.exists() and not store.paths("ab" * 32)[1].exists()


def test_altered_entry_same_size_is_dropped(tmp_path: Path) -> None:
    store, zip_path = put_sample(tmp_path)
    data = bytearray(zip_path.read_bytes())
    data[0] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    assert store.lookup("ab" * 32) is None
    assert not zip_path.exists()


def test_touched_entry_is_rehashed_once_and_kept(tmp_path: Path) -> None:
    # A store restored from a CI cache keeps bytes but not always mtimes.
    store, zip_path = put_sample(tmp_path)
    os.utime(zip_path, (1_700_000_000, 1_700_000_000))
    assert store.lookup("ab" * 32) is not None
    record = json.loads(store.paths("ab" * 32)[1].read_text())
    assert record["mtime_ns"] == 1_700_000_000 * 10**9


def test_zip_without_record_is_not_an_entry(tmp_path: Path) -> None:
    store, _ = put_sample(tmp_path)
    store.paths("ab" * 32)[1].unlink()
    assert store.lookup("ab" * 32) is None


def test_damaged_record_is_not_an_entry(tmp_path: Path) -> None:
    store, _ = put_sample(tmp_path)
    store.paths("ab" * 32)[1].write_text('{"fingerprint": "ab')
    assert store.lookup("ab" * 32) is None


def test_record_of_another_fingerprint_is_not_an_entry(tmp_path: Path) -> None:
    store, _ = put_sample(tmp_path)
    record = json.loads(store.paths("ab" * 32)[1].read_text())
    store.paths("ab" * 32)[1].write_text(json.dumps({**record, "fingerprint": "cd" * 32}))
    assert store.lookup("ab" * 32) is None


def test_put_keeps_an_identical_existing_file(tmp_path: Path) -> None:
    store, zip_path = put_sample(tmp_path)
    inode = zip_path.stat().st_ino
    again = tmp_path / "again.zip"
    again.write_bytes(zip_path.read_bytes())
    store.put("ab" * 32, again, {"kind": "binary"}, 10)
    assert zip_path.stat().st_ino == inode


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    built = tmp_path / "built.zip"
    built.write_bytes(b"x")
    with pytest.raises(store_mod.StoreError, match=r"Cannot write to the layer store at .*file/store: .* Set `tool"):
        LayerStore(blocker / "store").put("ab" * 32, built, {}, 1)


# --- damaged entries in a real build ----------------------------------------------------------------------


def test_build_rebuilds_a_truncated_entry(tmp_path: Path, isolated_store: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\necho hi\n"})
    build(root)
    layer = only_layer(root)
    good = sha256_file(root / "dist" / layer["file"])
    zip_path, _ = entry_paths(isolated_store, layer["fingerprint"])
    with open(zip_path, "r+b") as f:  # also truncates dist's hard link: both are the same file
        f.truncate(20)
    build(root)
    again = only_layer(root)
    assert (again["status"], again["changes"]) == ("built", ["store entry missing or damaged"])
    assert sha256_file(root / "dist" / layer["file"]) == good == sha256_file(zip_path)
    assert listing(root / "dist" / layer["file"]) == ["bin/tool"]


def test_build_rebuilds_an_altered_entry(tmp_path: Path, isolated_store: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\necho hi\n"})
    build(root)
    layer = only_layer(root)
    zip_path, _ = entry_paths(isolated_store, layer["fingerprint"])
    data = bytearray(zip_path.read_bytes())
    data[-30] ^= 0x01
    zip_path.unlink()  # a new file, so dist's hard link keeps the good bytes; the store's copy is bad
    zip_path.write_bytes(bytes(data))
    build(root)
    assert only_layer(root)["status"] == "built"
    assert sha256_file(zip_path) == layer["sha256"]


# --- scratch directories of killed builds -----------------------------------------------------------------


def test_sweep_removes_unlocked_scratch_and_keeps_locked(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "store")
    dead = tmp_path / "store" / "build-dead"
    (dead / "bin-x").mkdir(parents=True)
    (dead / ".in-use").write_text("")
    with store.scratch() as live:
        assert store.sweep() == [dead]
        assert live.is_dir()
    assert not live.exists()


# --- real processes ---------------------------------------------------------------------------------------


def _script(root: Path, before_build: str = "") -> list[str]:
    code = "\n".join([
        "import sys",
        f"sys.path.insert(0, {os.fspath(TESTS)!r})",
        "from pathlib import Path",
        before_build,
        "from helpers import build",
        f"build(Path({os.fspath(root)!r}))",
    ])
    return [sys.executable, "-c", code]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PIP_FIND_LINKS", None)
    return env


def test_two_builds_at_once_on_one_store(tmp_path: Path, isolated_store: Path) -> None:
    wheels = tmp_path / "wheels"
    for name in ("alpha", "beta", "gamma"):
        make_wheel(wheels, name, "1.0", files={f"{name}/__init__.py": "X = 1\n" * 2000})
    config = f'pip-args = ["--no-index", "--find-links", "{wheels.as_posix()}"]\n' + LAYER
    roots = [
        make_project(tmp_path / name, config, dependencies=["alpha", "beta", "gamma"],
                     files={"bin/tool": "#!/bin/sh\necho hi\n", "bin/data": "x" * 100_000})
        for name in ("one", "two")
    ]
    go = tmp_path / "go"
    wait = f"import time\nwhile not Path({os.fspath(go)!r}).exists(): time.sleep(0.005)"
    procs = [
        subprocess.Popen(_script(root, wait), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for root in roots
    ]
    time.sleep(0.5)  # both interpreters are up and waiting
    go.write_text("")
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    first, second = manifest_of(roots[0]), manifest_of(roots[1])
    assert [x["file"] for x in first["layers"]] == [x["file"] for x in second["layers"]]
    for layer in first["layers"]:
        assert sha256_file(roots[0] / "dist" / layer["file"]) == sha256_file(roots[1] / "dist" / layer["file"])
        entry = LayerStore(isolated_store).lookup(layer["fingerprint"])
        assert entry is not None and entry.sha256 == layer["sha256"]
    assert first["function"]["sha256"] == second["function"]["sha256"]
    # One entry per layer, and no debris.
    assert len(list((isolated_store / "v1").glob("*/*.zip"))) == 2
    assert not list(isolated_store.glob("build-*")) and not list((isolated_store / "v1").glob("*/.*.tmp"))


def test_build_killed_while_zipping_leaves_nothing_reusable(tmp_path: Path, isolated_store: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    # Incompressible, so deflating it takes long enough to be caught in the act.
    (root / "bin" / "blob").write_bytes(os.urandom(96 * 1024 * 1024))
    proc = subprocess.Popen(_script(root), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    partial: list[Path] = []
    while time.monotonic() < deadline and not partial:
        partial = [p for p in isolated_store.glob("build-*/*/.layer.zip.*.tmp") if p.stat().st_size > 1_000_000]
        time.sleep(0.01)
    assert partial, "the build never started writing its layer zip"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not list((isolated_store / "v1").glob("*/*.json")) if (isolated_store / "v1").exists() else True
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.zip"))

    build(root)
    layer = only_layer(root)
    assert layer["status"] == "built"
    assert listing(root / "dist" / layer["file"]) == ["bin/blob", "bin/tool"]
    assert not partial[0].exists()  # the killed build's scratch directory was swept
    assert list(isolated_store.glob("build-*")) == []


def test_build_killed_between_zip_and_record(tmp_path: Path, isolated_store: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\necho hi\n"})
    die = (
        "import os, signal\n"
        "import hatch_lambda.store as s\n"
        "s._write_json = lambda path, data: os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run(_script(root, die), env=_env(), capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL
    zips = list((isolated_store / "v1").glob("*/*.zip"))
    assert len(zips) == 1 and not list((isolated_store / "v1").glob("*/*.json"))
    assert LayerStore(isolated_store).lookup(zips[0].stem) is None

    build(root)
    layer = only_layer(root)
    assert (layer["status"], layer["fingerprint"]) == ("built", zips[0].stem)
    assert LayerStore(isolated_store).lookup(layer["fingerprint"]) is not None


def test_failure_between_zip_and_record_leaves_no_entry_and_no_output(
    tmp_path: Path, isolated_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\necho hi\n"})

    def disk_full(path: Path, data: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_mod, "_write_json", disk_full)
    with pytest.raises(SystemExit):
        build(root)
    assert "Cannot write to the layer store at" in capsys.readouterr().err
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())
    zips = list((isolated_store / "v1").glob("*/*.zip"))
    assert len(zips) == 1 and LayerStore(isolated_store).lookup(zips[0].stem) is None
    shutil.rmtree(isolated_store)
