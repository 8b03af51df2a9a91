"""End to end: the real `hatch build -t lambda` on the sample projects, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, SAMPLES, listing, mode_of, sha256_file

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hatch_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fresh hatch data dir: hatch creates its `hatch-build` environment with this checkout's plugin."""
    env = dict(os.environ)
    env["HATCH_DATA_DIR"] = str(tmp_path_factory.mktemp("hatch-data"))
    env.pop("SOURCE_DATE_EPOCH", None)
    return env


def hatch_build(project: Path, target: str, out: Path, env: dict[str, str],
                store: Path | None = None) -> subprocess.CompletedProcess[str]:
    store_env = {"HATCH_LAMBDA_STORE": str(store)} if store else _store_env()
    proc = subprocess.run(
        ["hatch", "build", "-t", target, str(out)], cwd=project, env={**env, **store_env},
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _store_env() -> dict[str, str]:
    return {"HATCH_LAMBDA_STORE": os.environ["HATCH_LAMBDA_STORE"]}


def clone(tmp: Path, sample: str) -> Path:
    """A copy of the plugin and one sample at another path (the sample installs the plugin from `../..`)."""
    shutil.copytree(REPO / "src", tmp / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tmp / name)
    dest = tmp / "sample_projects" / sample
    shutil.copytree(SAMPLES / sample, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return dest


def test_hello_layer(tmp_path: Path, hatch_env: dict[str, str]) -> None:
    out = tmp_path / "dist"
    proc = hatch_build(SAMPLES / "hello_layer", "lambda", out, hatch_env)
    manifest = json.loads((out / "hello_layer-0.1.0-lambda.json").read_text())
    layer = out / manifest["layers"][0]["file"]
    printed = proc.stdout + proc.stderr
    assert "hello_layer-0.1.0-function.zip" in printed and layer.name in printed
    assert listing(out / "hello_layer-0.1.0-function.zip") == ["hello_layer/__init__.py", "hello_layer/handler.py"]
    assert listing(layer) == ["bin/hello.sh"]
    assert mode_of(layer, "bin/hello.sh") == 0o755
    assert manifest["handler"] == "hello_layer.handler.lambda_handler"
    assert [(a["name"], a["kind"]) for a in manifest["layers"]] == [("bin", "binary-layer")]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["hello_layer-0.1.0-function.zip", "hello_layer-0.1.0-lambda.json", layer.name]
    )


def test_function_target_writes_only_the_function_zip(tmp_path: Path, hatch_env: dict[str, str]) -> None:
    out = tmp_path / "dist"
    hatch_build(SAMPLES / "hello_layer", "lambda:function", out, hatch_env)
    zips = sorted(p.name for p in out.glob("*.zip"))
    assert zips == ["hello_layer-0.1.0-function.zip"]


def test_byte_identical_across_clones_and_time(tmp_path: Path, hatch_env: dict[str, str]) -> None:
    first, second = tmp_path / "one", tmp_path / "elsewhere" / "two"
    hatch_build(SAMPLES / "hello_layer", "lambda", first, hatch_env)
    project = clone(tmp_path / "clone", "hello_layer")
    for path in project.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    # Its own empty store, so the clone builds its layer instead of reusing the first build's.
    hatch_build(project, "lambda", second, hatch_env, store=tmp_path / "clone-store")
    manifest = json.loads((second / "hello_layer-0.1.0-lambda.json").read_text())
    assert [layer["status"] for layer in manifest["layers"]] == ["built"]
    one = {p.name: sha256_file(p) for p in first.glob("*.zip")}
    two = {p.name: sha256_file(p) for p in second.glob("*.zip")}
    assert one == two and len(one) == 2


@pytest.mark.network
def test_web_deps_layer(tmp_path: Path, hatch_env: dict[str, str]) -> None:
    out = tmp_path / "dist"
    hatch_build(SAMPLES / "web_deps", "lambda", out, hatch_env)
    manifest = json.loads(next(out.glob("*-lambda.json")).read_text())
    deps = [a for a in manifest["layers"] if a["kind"] == "dependency-layer"]
    assert len(deps) == 1
    names = listing(out / deps[0]["file"])
    assert any(n.startswith("python/requests/") for n in names)
    assert any(n.startswith("python/pydantic/") for n in names)
    assert any(n.startswith("python/pydantic_core/") and n.endswith(".so") for n in names)
    function = listing(out / manifest["function"]["file"])
    assert all(n.startswith("web_deps/") for n in function)


@pytest.mark.network
def test_lock_samples_give_the_same_layer_content(tmp_path: Path, hatch_env: dict[str, str]) -> None:
    """pylock.toml, uv.lock and poetry.lock pin the same packages: the real builds hold the same files."""
    import zipfile

    contents = {}
    for sample in ("lock_pylock", "lock_uv", "lock_poetry"):
        out = tmp_path / sample
        hatch_build(SAMPLES / sample, "lambda", out, hatch_env)
        manifest = json.loads(next(out.glob("*-lambda.json")).read_text())
        (deps,) = [a for a in manifest["layers"] if a["kind"] == "dependency-layer"]
        assert deps["changes"] or deps["status"] == "reused"
        with zipfile.ZipFile(out / deps["file"]) as zf:
            contents[sample] = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    assert "python/dateutil/parser/_parser.py" in contents["lock_uv"]
    assert "python/six.py" in contents["lock_uv"]
    assert contents["lock_pylock"] == contents["lock_uv"] == contents["lock_poetry"]
