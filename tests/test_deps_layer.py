"""The dependency layer built offline from test wheelhouses: target tags, lock formats, hashes, slimming, errors."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from hatch_lambda import deps
from hatch_lambda.errors import DependencyError
from hatch_lambda.runtimes import Target
from helpers import build, make_project, make_wheel
from wheelhouse import (
    dist_tags,
    make_sdist,
    offline_pip,
    pip_args,
    sha256,
    tagged_wheels,
    write_lock,
    write_poetry_lock,
    write_requirements,
    write_uv_lock,
)

MANIFEST = "demo_fn-1.0.0-lambda.json"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline_pip(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel the tests here install, built once for the module."""
    d = tmp_path_factory.mktemp("wheelhouse")
    tagged_wheels(d)
    # A newer release only for glibc 2.35: no runtime loads it, so pip must fall back to 1.0.
    make_wheel(d, "glibcpkg", "2.0", tag="py3-none-manylinux_2_35_x86_64.manylinux_2_35_aarch64")
    make_wheel(d, "toonew", "1.0", tag="py3-none-manylinux_2_35_x86_64")
    make_wheel(d, "alpha", "1.0", requires=["beta>=2"])
    make_wheel(d, "beta", "2.0")
    # boto3's real dependency tree, in miniature; requests shares urllib3 with botocore.
    make_wheel(d, "boto3", "1.35.0", requires=["botocore>=1.35", "s3transfer>=0.10", "jmespath>=1"])
    make_wheel(d, "botocore", "1.35.0", requires=["jmespath>=1", "python-dateutil>=2", "urllib3>=1.25"])
    make_wheel(d, "s3transfer", "0.10.0", requires=["botocore>=1.33"])
    make_wheel(d, "jmespath", "1.0.1")
    make_wheel(d, "python-dateutil", "2.9.0", requires=["six>=1.5"])
    make_wheel(d, "six", "1.17.0")
    make_wheel(d, "urllib3", "2.2.0", requires=['brotli; platform_python_implementation == "PyPy"'])
    make_wheel(d, "requests", "2.32.0", requires=["urllib3>=1.21", "idna>=2.5"])
    make_wheel(d, "idna", "3.7")
    make_wheel(d, "slimpkg", "1.0", files={
        "slimpkg/__init__.py": "X = 1\n",
        "slimpkg/__init__.pyi": "X: int\n",
        "slimpkg/__pycache__/__init__.cpython-312.pyc": "bytecode",
        "slimpkg/tests/test_x.py": "def test(): pass\n",
        "slimpkg/data/table.csv": "a,b\n",
    })
    # Markers pip would evaluate for this machine (python3.11, x86_64) instead of the target.
    make_wheel(d, "usesmarkers", "1.0", requires=[
        'py310only; python_version < "3.11"', 'armdep; platform_machine == "aarch64"',
        'hostonly; python_version == "3.11"',
    ])
    for name in ("py310only", "armdep", "hostonly"):
        make_wheel(d, name, "1.0")
    make_sdist(d, "puresrc", "1.0")
    make_sdist(d, "nativesrc", "1.0", tag="cp311-cp311-linux_x86_64")
    return d


def project(tmp_path: Path, house: Path, config: str = "", dependencies: tuple[str, ...] = (),
            runtime: str = "python3.12", architecture: str = "x86_64") -> Path:
    settings = f'runtime = "{runtime}"\narchitecture = "{architecture}"\n' + pip_args(house) + config
    return make_project(tmp_path / "p", settings, dependencies=dependencies)


def layer(root: Path) -> dict[str, bytes]:
    """{path: bytes} of the dependency layer of the last build."""
    manifest = json.loads((root / "dist" / MANIFEST).read_text())
    (entry,) = [a for a in manifest["layers"] if a["kind"] == "dependency-layer"]
    with zipfile.ZipFile(root / "dist" / entry["file"]) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def packages(files: dict[str, bytes]) -> list[str]:
    return sorted({p.split("/")[1] for p in files if p.endswith(".dist-info/METADATA")})


def fail(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        build(root)
    assert info.value.code == 1
    return " ".join(capsys.readouterr().err.split())


def assert_no_artifact(root: Path) -> None:
    dist = root / "dist"
    assert not dist.exists() or sorted(p.name for p in dist.iterdir()) == []


# --- target tags -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "architecture", "chosen"),
    [
        ("python3.11", "x86_64", "py3-none-manylinux_2_17_x86_64"),
        ("python3.11", "arm64", "py3-none-manylinux_2_17_aarch64"),
        ("python3.12", "x86_64", "py3-none-manylinux_2_34_x86_64"),
        ("python3.12", "arm64", "py3-none-manylinux_2_34_aarch64"),
    ],
)
def test_newest_wheel_the_runtime_loads(tmp_path: Path, house: Path, runtime: str, architecture: str,
                                        chosen: str) -> None:
    root = project(tmp_path, house, dependencies=("glibcpkg",), runtime=runtime, architecture=architecture)
    build(root)
    files = layer(root)
    assert files["python/glibcpkg/__init__.py"] == f"VERSION = '1.0'\nTAG = {chosen!r}\n".encode()
    assert dist_tags(files) == {"glibcpkg-1.0.dist-info": [chosen]}
    # Never a tag the runtime's glibc cannot load, never the other architecture.
    wrong_arch = "x86_64" if architecture == "arm64" else "aarch64"
    assert not any(wrong_arch in tag for tags in dist_tags(files).values() for tag in tags)


@pytest.mark.parametrize(
    ("runtime", "architecture", "expected"),
    [
        ("python3.10", "x86_64", ["py310only-1.0.dist-info", "usesmarkers-1.0.dist-info"]),
        ("python3.12", "arm64", ["armdep-1.0.dist-info", "usesmarkers-1.0.dist-info"]),
    ],
)
def test_dependency_markers_are_evaluated_for_the_target(tmp_path: Path, house: Path, runtime: str,
                                                         architecture: str, expected: list[str]) -> None:
    # Without a lock pip resolves, but with this machine's markers; the build re-walks them for the target.
    root = project(tmp_path, house, dependencies=("usesmarkers",), runtime=runtime, architecture=architecture)
    build(root)
    assert packages(layer(root)) == expected


def test_check_wheel_tags_refuses_a_too_new_glibc(tmp_path: Path) -> None:
    info = tmp_path / "python" / "glibcpkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: glibcpkg\nVersion: 1.0\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: py3-none-manylinux_2_28_x86_64\n")
    with pytest.raises(DependencyError) as e:
        deps.check_wheel_tags(tmp_path / "python", Target.of("python3.11", "x86_64"), "uv.lock")
    assert str(e.value).startswith(
        "The dependency layer from uv.lock would hold wheels that python3.11 on x86_64 (Amazon Linux 2, "
        "glibc 2.26) cannot load: glibcpkg 1.0 (py3-none-manylinux_2_28_x86_64). Searched platform tags: "
        "manylinux_2_26_x86_64, manylinux_2_25_x86_64,"
    )


# --- lock formats and hashes -------------------------------------------------------------------------------


def test_every_lock_format_gives_the_same_layer(tmp_path: Path, house: Path) -> None:
    pins = [("alpha", "1.0", house / "alpha-1.0-py3-none-any.whl", ["beta"]),
            ("beta", "2.0", house / "beta-2.0-py3-none-any.whl", [])]
    layers: dict[str, dict[str, bytes]] = {}
    for kind in ("pylock", "uv", "poetry", "requirements"):
        root = project(tmp_path / kind, house, dependencies=("alpha",))
        write_lock(kind, root, "demo-fn", ["alpha"], pins)
        build(root)
        manifest = json.loads((root / "dist" / MANIFEST).read_text())
        assert manifest["layers"][0]["kind"] == "dependency-layer"
        layers[kind] = layer(root)
    assert sorted(layers["uv"]) == [
        "python/alpha-1.0.dist-info/INSTALLER", "python/alpha-1.0.dist-info/METADATA",
        "python/alpha-1.0.dist-info/RECORD", "python/alpha-1.0.dist-info/REQUESTED",
        "python/alpha-1.0.dist-info/WHEEL", "python/alpha/__init__.py",
        "python/beta-2.0.dist-info/INSTALLER", "python/beta-2.0.dist-info/METADATA",
        "python/beta-2.0.dist-info/RECORD", "python/beta-2.0.dist-info/REQUESTED",
        "python/beta-2.0.dist-info/WHEEL", "python/beta/__init__.py",
    ]
    for kind in ("pylock", "poetry", "requirements"):
        assert layers[kind] == layers["uv"], kind


def test_hashed_lock_rejects_a_tampered_wheel(tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "house"
    shutil.copytree(house, mine)
    good = mine / "beta-2.0-py3-none-any.whl"
    pins = [("alpha", "1.0", mine / "alpha-1.0-py3-none-any.whl", ["beta"]), ("beta", "2.0", good, [])]
    root = project(tmp_path, mine, dependencies=("alpha",))
    write_uv_lock(root, "demo-fn", ["alpha"], pins)
    locked = sha256(good)
    # Same name, same version, other bytes: what a compromised mirror would serve.
    good.unlink()
    make_wheel(mine, "beta", "2.0", files={"beta/__init__.py": "import os; os.system('curl evil')\n"})
    message = fail(root, capsys)
    assert "A downloaded file does not match the hash locked in uv.lock: pip refused to install it." in message
    assert f"Expected sha256 {locked}" in message
    assert f"Got {sha256(good)}" in message
    assert_no_artifact(root)


def test_requirements_with_hashes_installs_with_require_hashes(tmp_path: Path, house: Path) -> None:
    pins = [("alpha", "1.0", house / "alpha-1.0-py3-none-any.whl", ["beta"]),
            ("beta", "2.0", house / "beta-2.0-py3-none-any.whl", [])]
    root = project(tmp_path, house, dependencies=("alpha",))
    write_requirements(root, pins, "requirements-lambda.txt")
    resolved = deps.resolve(root, deps.ProjectDependencies(("alpha",)), _settings(root),
                            Target.of("python3.12", "x86_64"), _Quiet())
    assert (resolved.source, resolved.hashed, resolved.complete) == ("requirements-lambda.txt", True, True)
    cmd = deps.pip_command(Path("r.txt"), Path("t"), Target.of("python3.12", "x86_64"), _settings(root),
                           resolved.hashed, no_deps=resolved.complete)
    assert "--require-hashes" in cmd and "--no-deps" in cmd
    build(root)
    assert packages(layer(root)) == ["alpha-1.0.dist-info", "beta-2.0.dist-info"]


def test_unhashed_requirements_lock_warns_about_what_it_does_not_pin(
        tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("alpha",))
    (root / "requirements.txt").write_text("alpha==1.0\n")
    build(root)
    assert packages(layer(root)) == ["alpha-1.0.dist-info", "beta-2.0.dist-info"]
    assert (
        "warning: requirements.txt does not pin beta, which the locked packages need on python3.12 on x86_64 "
        "(Amazon Linux 2023, glibc 2.34): pip chose their versions. Regenerate the lock to pin them."
    ) in " ".join(capsys.readouterr().err.split())


def _settings(root: Path) -> deps.DependencyConfig:
    from hatch_lambda.builder import LambdaBuilder

    return LambdaBuilder(str(root)).config.lambda_config.dependencies


class _Quiet:
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...


# --- sdists ------------------------------------------------------------------------------------------------


def test_pure_sdist_is_built_into_a_wheel(tmp_path: Path, house: Path) -> None:
    root = project(tmp_path, house, dependencies=("puresrc",), architecture="arm64")
    build(root)
    files = layer(root)
    assert files["python/puresrc/__init__.py"] == b"VERSION = '1.0'\nFROM_SDIST = True\n"
    assert dist_tags(files) == {"puresrc-1.0.dist-info": ["py3-none-any"]}
    assert "python/puresrc-1.0.dist-info/direct_url.json" not in files


def test_pure_sdist_in_a_hashed_lock(tmp_path: Path, house: Path) -> None:
    sdist = house / "puresrc-1.0.tar.gz"
    root = project(tmp_path, house, dependencies=("puresrc",))
    (root / "requirements.txt").write_text(f"puresrc==1.0 --hash=sha256:{sha256(sdist)}\n")
    build(root)
    assert layer(root)["python/puresrc/__init__.py"] == b"VERSION = '1.0'\nFROM_SDIST = True\n"


def test_platform_specific_sdist_is_an_error(tmp_path: Path, house: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("nativesrc==1.0",))
    message = fail(root, capsys)
    assert (
        "nativesrc 1.0 has no acceptable wheel for python3.12 on x86_64 (Amazon Linux 2023, glibc 2.34), and its "
        "sdist builds a platform-specific wheel (nativesrc-1.0-cp311-cp311-linux_x86_64.whl) for this machine, "
        "which Lambda cannot load. Searched platform tags: manylinux_2_34_x86_64, manylinux_2_33_x86_64,"
    ) in message
    assert_no_artifact(root)


def test_no_acceptable_wheel_is_an_error(tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("toonew==1.0",), runtime="python3.12")
    message = fail(root, capsys)
    tags = ", ".join(Target.of("python3.12", "x86_64").platform_tags)
    assert (
        "No acceptable wheel for toonew 1.0 on python3.12 on x86_64 (Amazon Linux 2023, glibc 2.34), and no sdist "
        f"to build one from (dependencies from pyproject.toml). Searched platform tags: {tags}, any; ABIs: "
        "cp312, abi3, none."
    ) in message
    assert_no_artifact(root)


# --- lock errors -------------------------------------------------------------------------------------------


def test_several_locks_stop_the_build(tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("alpha",))
    pins = [("alpha", "1.0", house / "alpha-1.0-py3-none-any.whl", ["beta"]),
            ("beta", "2.0", house / "beta-2.0-py3-none-any.whl", [])]
    write_uv_lock(root, "demo-fn", ["alpha"], pins)
    write_poetry_lock(root, pins)
    message = fail(root, capsys)
    assert (
        f"{root / 'pyproject.toml'}: several lock files were found next to pyproject.toml (poetry.lock, uv.lock) "
        "and the dependency layer can only be built from one. Name it with `lock` in "
        '[tool.hatch.build.targets.lambda], e.g. lock = "poetry.lock".'
    ) in message
    assert_no_artifact(root)


def test_vcs_dependency_in_uv_lock(tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("alpha", "gitdep"))
    pins = [("alpha", "1.0", house / "alpha-1.0-py3-none-any.whl", ["beta"]),
            ("beta", "2.0", house / "beta-2.0-py3-none-any.whl", [])]
    vcs = (
        '\n[[package]]\nname = "gitdep"\nversion = "0.3.0"\n'
        'source = { git = "https://github.com/example/gitdep?rev=main#0123456789abcdef" }\n'
    )
    write_uv_lock(root, "demo-fn", ["alpha", "gitdep"], pins, extra_packages=vcs)
    message = fail(root, capsys)
    assert (
        "uv.lock: gitdep 0.3.0 is locked as a version-control (VCS) dependency "
        "(https://github.com/example/gitdep?rev=main#0123456789abcdef). A Lambda layer is built only from "
        "packages an index serves by name and version"
    ) in message
    assert "does not match" not in message and "Expected sha256" not in message  # never a pip hash failure
    assert_no_artifact(root)


def test_path_dependency_in_poetry_lock(tmp_path: Path, house: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, house, dependencies=("alpha", "mylib"))
    pins = [("alpha", "1.0", house / "alpha-1.0-py3-none-any.whl", ["beta"]),
            ("beta", "2.0", house / "beta-2.0-py3-none-any.whl", [])]
    local = (
        '\n[[package]]\nname = "mylib"\nversion = "0.1.0"\ndescription = ""\noptional = false\n'
        'python-versions = ">=3.10"\ngroups = ["main"]\nfiles = []\ndevelop = true\n\n'
        '[package.source]\ntype = "directory"\nurl = "../mylib"\n'
    )
    write_poetry_lock(root, pins, extra_packages=local)
    message = fail(root, capsys)
    assert "poetry.lock: mylib 0.1.0 is locked as a local path dependency (../mylib)." in message
    assert_no_artifact(root)


# --- slimming ----------------------------------------------------------------------------------------------


def test_exclude_boto3_removes_its_exclusive_tree(tmp_path: Path, house: Path) -> None:
    root = project(tmp_path, house, 'exclude-packages = ["boto3"]\n', dependencies=("boto3", "requests"))
    build(root)
    # boto3, botocore, s3transfer, jmespath (and botocore's own python-dateutil, six) are gone;
    # urllib3 stays because requests, which is kept, needs it.
    assert packages(layer(root)) == ["idna-3.7.dist-info", "requests-2.32.0.dist-info", "urllib3-2.2.0.dist-info"]
    assert sorted({p.split("/")[1] for p in layer(root)}) == [
        "idna", "idna-3.7.dist-info", "requests", "requests-2.32.0.dist-info", "urllib3", "urllib3-2.2.0.dist-info",
    ]


def test_exclude_keeps_what_the_project_declares_itself(tmp_path: Path, house: Path) -> None:
    root = project(tmp_path, house, 'exclude-packages = ["boto3"]\n', dependencies=("boto3", "jmespath"))
    build(root)
    assert packages(layer(root)) == ["jmespath-1.0.1.dist-info"]


def test_default_slimming_strips_bytecode_only(tmp_path: Path, house: Path) -> None:
    root = project(tmp_path, house, dependencies=("slimpkg",))
    build(root)
    assert sorted(p for p in layer(root) if not p.startswith("python/slimpkg-1.0.dist-info/")) == [
        "python/slimpkg/__init__.py", "python/slimpkg/__init__.pyi", "python/slimpkg/data/table.csv",
        "python/slimpkg/tests/test_x.py",
    ]


def test_exclude_patterns_and_no_dist_info(tmp_path: Path, house: Path) -> None:
    config = 'exclude-patterns = ["tests/", "*.pyi"]\nkeep-dist-info = false\n'
    root = project(tmp_path, house, config, dependencies=("slimpkg",))
    build(root)
    assert sorted(layer(root)) == ["python/slimpkg/__init__.py", "python/slimpkg/data/table.csv"]


def test_keep_bytecode_when_asked(tmp_path: Path, house: Path) -> None:
    root = project(tmp_path, house, "strip-bytecode = false\n", dependencies=("slimpkg",))
    build(root)
    assert "python/slimpkg/__pycache__/__init__.cpython-312.pyc" in layer(root)
