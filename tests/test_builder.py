"""The lambda target in-process: file selection, versions, errors that leave nothing behind, reproducibility."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hatch_lambda import limits
from helpers import build, listing, make_project, make_wheel, mode_of, sha256_file

LAYER = """
handler = "demo_fn.handler.main"
[[tool.hatch.build.targets.lambda.layers]]
paths = ["bin"]
"""


def fail(root: Path, capsys: pytest.CaptureFixture[str], versions: list[str] | None = None) -> str:
    """Builds, expects the clean abort hatchling shows a user, and returns its message."""
    with pytest.raises(SystemExit) as info:
        build(root, versions)
    assert info.value.code == 1
    return capsys.readouterr().err


def artifacts(root: Path) -> list[str]:
    dist = root / "dist"
    return sorted(p.name for p in dist.iterdir()) if dist.exists() else []


def test_function_zip_holds_only_project_code(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        LAYER,
        files={
            "bin/tool": "#!/bin/sh\n",
            "demo_fn/.env": "SECRET=1\n",
            "demo_fn/__pycache__/handler.cpython-312.pyc": "x",
            "demo_fn/data/template.txt": "hello\n",
            ".env": "SECRET=1\n",
            ".git/config": "[core]\n",
            ".venv/lib/site.py": "",
            "tests/test_x.py": "",
            "dist/old.zip": "",
        },
    )
    build(root)
    assert listing(root / "dist" / "demo_fn-1.0.0-function.zip") == [
        "demo_fn/__init__.py",
        "demo_fn/data/template.txt",
        "demo_fn/handler.py",
    ]


def test_wide_include_still_excludes_layer_inputs_and_secrets(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        'include = ["/demo_fn", "/bin", "/.env", "/settings.json"]\n' + LAYER,
        files={"bin/tool": "#!/bin/sh\n", ".env": "SECRET=1\n", "settings.json": "{}"},
    )
    build(root)
    assert listing(root / "dist" / "demo_fn-1.0.0-function.zip") == [
        "demo_fn/__init__.py",
        "demo_fn/handler.py",
        "settings.json",
    ]


def test_src_layout_is_flattened(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", 'handler = "demo_fn.handler.main"\n', files={})
    shutil.move(root / "demo_fn", root / "src" / "demo_fn") if (root / "src").mkdir() is None else None
    build(root)
    assert listing(root / "dist" / "demo_fn-1.0.0-function.zip") == ["demo_fn/__init__.py", "demo_fn/handler.py"]


def test_binary_layer_keeps_executable_bits(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        """
        [[tool.hatch.build.targets.lambda.layers]]
        name = "tools"
        paths = { "bin" = "bin", "vendor/lib" = "/opt/lib", "config.json" = "etc/config.json" }
        """,
        files={"bin/run.sh": "#!/bin/sh\necho run\n", "vendor/lib/libx.so": "ELF", "config.json": "{}"},
    )
    build(root)
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    layer = root / "dist" / manifest["layers"][0]["file"]
    assert layer.name.startswith("demo_fn-tools-") and len(layer.name) == len("demo_fn-tools-") + 12 + 4
    assert listing(layer) == ["bin/run.sh", "etc/config.json", "lib/libx.so"]
    assert mode_of(layer, "bin/run.sh") == 0o755
    assert mode_of(layer, "lib/libx.so") == 0o644


def test_function_version_writes_only_the_function_zip(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    paths = build(root, ["function"])
    assert [p.name for p in paths] == ["demo_fn-1.0.0-function.zip"]
    assert artifacts(root) == ["demo_fn-1.0.0-function.zip", "demo_fn-1.0.0-lambda.json"]
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    assert manifest["layers"] == []


def test_layers_version_writes_only_layers(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    build(root, ["layers"])
    names = artifacts(root)
    assert len(names) == 2 and names[0] == "demo_fn-1.0.0-lambda.json"
    assert names[1].startswith("demo_fn-bin-")


def test_function_only_rebuild_keeps_layers_in_manifest(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    build(root)
    before = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    build(root, ["function"])
    after = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    assert after["layers"] == before["layers"]


def test_handler_module_missing_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER.replace("demo_fn.handler.main", "demo_fn.api.main"),
                        files={"bin/tool": "#!/bin/sh\n"})
    err = fail(root, capsys)
    assert f"{root}/pyproject.toml: Field `tool.hatch.build.targets.lambda.handler` is 'demo_fn.api.main'" in err
    assert "no module 'demo_fn.api'" in err
    assert "Traceback" not in err
    assert artifacts(root) == []


def test_handler_function_missing_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'handler = "demo_fn.handler.lambda_handler"\n')
    err = fail(root, capsys)
    assert "demo_fn/handler.py in the function zip does not define 'lambda_handler' at module level" in err
    assert artifacts(root) == []


def test_config_error_names_file_field_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'runtime = "python3.9"\narchitecture = "arm"\n')
    err = fail(root, capsys)
    assert f"{root}/pyproject.toml: 2 problems in the lambda target configuration:" in err
    assert "`tool.hatch.build.targets.lambda.runtime` must be one of" in err and "'python3.9'" in err
    assert "`tool.hatch.build.targets.lambda.architecture` must be one of x86_64, arm64, not 'arm'" in err
    assert artifacts(root) == []


def _five_layers() -> tuple[str, dict[str, str]]:
    layers = "".join(
        f'[[tool.hatch.build.targets.lambda.layers]]\nname = "l{i}"\npaths = ["d{i}"]\n' for i in range(5)
    )
    return layers, {f"d{i}/f": "x" for i in range(5)}


def test_five_binary_layers_without_dependencies_build(tmp_path: Path) -> None:
    layers, files = _five_layers()
    root = make_project(tmp_path / "p", layers, files=files)
    build(root)
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    assert [layer["name"] for layer in manifest["layers"]] == ["l0", "l1", "l2", "l3", "l4"]


def test_six_layers_with_the_dependency_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    make_wheel(tmp_path / "wheels", "tinydep", "1.0")
    layers, files = _five_layers()
    offline = f'pip-args = ["--no-index", "--find-links", "{(tmp_path / "wheels").as_posix()}"]\n'
    root = make_project(tmp_path / "p", offline + layers, files=files, dependencies=["tinydep==1.0"])
    err = fail(root, capsys)
    assert "The build has 6 layers (demo_fn-deps-" in err
    assert "Lambda allows at most 5 per function. Merge binary layers or remove one" in err
    assert artifacts(root) == []


def test_symlink_outside_project_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    (tmp_path / "host-secret").write_text("x")
    (root / "bin" / "leak").symlink_to(tmp_path / "host-secret")
    err = fail(root, capsys)
    assert f"{root}/pyproject.toml: layer 'bin'" in err
    assert f"contains the symlink bin/leak -> {tmp_path / 'host-secret'}, which points outside the project" in err
    assert artifacts(root) == []


def test_symlink_inside_project_is_followed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n", "scripts/real.sh": "#!/bin/sh\n"})
    (root / "bin" / "alias.sh").symlink_to("../scripts/real.sh")
    build(root)
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    layer = root / "dist" / manifest["layers"][0]["file"]
    assert listing(layer) == ["bin/alias.sh", "bin/tool"]
    assert mode_of(layer, "bin/alias.sh") == 0o755


def test_missing_layer_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER)
    err = fail(root, capsys)
    assert f"{root}/pyproject.toml: layer 'bin' (`tool.hatch.build.targets.lambda.layers`) names the path 'bin', " \
           "which does not exist in the project." in err
    assert artifacts(root) == []


def test_unzipped_limit_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is 250 MB; the mechanism is the same for a smaller one, and the test stays fast.
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 1000)
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n" + "x" * 2000})
    err = fail(root, capsys)
    assert "over Lambda's limit of 1,000 bytes (250 MB) for a function and all its layers" in err
    assert artifacts(root) == []


def test_overlapping_layers_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(
        tmp_path / "p",
        """
        [[tool.hatch.build.targets.lambda.layers]]
        name = "one"
        paths = { "one" = "bin" }
        [[tool.hatch.build.targets.lambda.layers]]
        name = "two"
        paths = { "two" = "bin" }
        """,
        files={"one/tool": "#!/bin/sh\necho one\n", "two/tool": "#!/bin/sh\necho two\n"},
    )
    build(root)
    err = capsys.readouterr().err
    assert "Layers 'one' and 'two' both ship bin/tool; on Lambda the later layer ('two') wins." in err


def test_deprecated_runtime_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'runtime = "python3.10"\n')
    build(root)
    assert "python3.10 is deprecated by AWS Lambda since 2026-10-31" in capsys.readouterr().err


def test_malformed_source_date_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    root = make_project(tmp_path / "p")
    err = fail(root, capsys)
    assert "SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not 'yesterday'" in err
    assert artifacts(root) == []


def test_source_date_epoch_sets_function_zip_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    root = make_project(tmp_path / "p")
    build(root)
    with zipfile.ZipFile(root / "dist" / "demo_fn-1.0.0-function.zip") as zf:
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_env_overrides_runtime_and_architecture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HATCH_LAMBDA_RUNTIME", "python3.11")
    monkeypatch.setenv("HATCH_LAMBDA_ARCHITECTURE", "arm64")
    root = make_project(tmp_path / "p", 'runtime = "python3.13"\n')
    build(root)
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    target = (manifest["runtime"], manifest["architecture"], manifest["python_version"])
    assert target == ("python3.11", "arm64", "3.11")


def test_clean_removes_our_artifacts(tmp_path: Path) -> None:
    from hatch_lambda.builder import LambdaBuilder

    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    build(root)
    (root / "dist" / "unrelated.whl").write_text("keep me")
    list(LambdaBuilder(str(root)).build(directory=str(root / "dist"), clean_only=True))
    assert artifacts(root) == ["unrelated.whl"]


def _all_bytes(root: Path) -> dict[str, str]:
    # The manifest also records built/reused, which differs between these builds by design.
    return {p.name: sha256_file(p) for p in sorted((root / "dist").glob("*.zip"))}


def test_reproducible_across_time_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"bin/tool": "#!/bin/sh\necho hi\n", "demo_fn/util.py": "X = 1\n"}
    first = make_project(tmp_path / "a" / "p", LAYER, files=files)
    build(first)
    # Same sources, another path, other mtimes, another umask-looking mode on a plain file.
    second = tmp_path / "clone" / "elsewhere"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("dist"))
    for path in second.rglob("*"):
        os.utime(path, (1_800_000_000, 1_800_000_000))
    (second / "demo_fn" / "util.py").chmod(0o600)
    # Its own empty store: the clone must build its layers, not reuse the first build's.
    monkeypatch.setenv("HATCH_LAMBDA_STORE", str(tmp_path / "clone-store"))
    build(second)
    clone_manifest = json.loads((second / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    assert [layer["status"] for layer in clone_manifest["layers"]] == ["built"]
    assert _all_bytes(first) == _all_bytes(second)
    # And a rebuild in place at a later time.
    for path in first.rglob("*.py"):
        os.utime(path, None)
    before = _all_bytes(first)
    build(first)
    assert _all_bytes(first) == before


def test_store_inside_the_project_is_not_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HATCH_LAMBDA_STORE")
    root = make_project(
        tmp_path / "p",
        'include = ["/demo_fn", "/layer-store"]\nstore = "layer-store"\n' + LAYER,
        files={"bin/tool": "#!/bin/sh\n"},
    )
    build(root)
    assert any((root / "layer-store").rglob("*.zip"))
    build(root)  # the second build sees the store's files on disk and must still leave them out
    assert listing(root / "dist" / "demo_fn-1.0.0-function.zip") == ["demo_fn/__init__.py", "demo_fn/handler.py"]


def _layer_listing(root: Path) -> list[str]:
    manifest = json.loads((root / "dist" / "demo_fn-1.0.0-lambda.json").read_text())
    return listing(root / "dist" / manifest["layers"][0]["file"])


def test_single_file_mapped_into_a_folder_keeps_its_name(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        """
        [[tool.hatch.build.targets.lambda.layers]]
        paths = { "scripts/run.sh" = "/opt/bin/", "conf.txt" = "/opt", "other.txt" = "etc/renamed.txt" }
        """,
        files={"scripts/run.sh": "#!/bin/sh\n", "conf.txt": "x", "other.txt": "y"},
    )
    build(root)
    assert _layer_listing(root) == ["bin/run.sh", "conf.txt", "etc/renamed.txt"]


def test_dangling_symlink_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    (root / "bin" / "broken").symlink_to("missing")
    err = fail(root, capsys)
    assert "contains the symlink bin/broken -> missing, which leads nowhere" in err
    assert "Traceback" not in err
    assert artifacts(root) == []


def test_symlink_loop_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    (root / "bin" / "loop").symlink_to("loop")
    err = fail(root, capsys)
    assert "contains the symlink bin/loop -> loop, which leads nowhere" in err
    assert artifacts(root) == []


def test_folder_link_to_an_ancestor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n"})
    (root / "bin" / "again").symlink_to("..")
    err = fail(root, capsys)
    assert "contains the symlink bin/again -> .., which points to a folder that contains it" in err
    assert artifacts(root) == []


def test_layer_path_that_is_a_dangling_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER)
    (root / "bin").symlink_to("missing-dir")
    err = fail(root, capsys)
    assert "contains the symlink bin -> missing-dir, which leads nowhere" in err
    assert artifacts(root) == []


def test_empty_layer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", LAYER)
    (root / "bin" / "empty").mkdir(parents=True)
    err = fail(root, capsys)
    assert "layer 'bin' (`tool.hatch.build.targets.lambda.layers`) holds no files" in err
    assert artifacts(root) == []


def test_nested_folder_links_inside_the_project_are_followed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", LAYER, files={"bin/tool": "#!/bin/sh\n", "shared/sub/x.sh": "#!/bin/sh\n"})
    (root / "shared" / "subl").symlink_to("sub")
    (root / "bin" / "sh").symlink_to("../shared")
    build(root)
    assert _layer_listing(root) == ["bin/sh/sub/x.sh", "bin/sh/subl/x.sh", "bin/tool"]


def test_handler_defined_in_a_module_level_branch(tmp_path: Path) -> None:
    handler = (
        "import os\n"
        "if os.environ.get('FAST'):\n    from demo_fn.fast import main\n"
        "else:\n    def main(event, context):\n        return 1\n"
    )
    root = make_project(tmp_path / "p", 'handler = "demo_fn.handler.main"\n', files={"demo_fn/handler.py": handler})
    build(root)
    assert (root / "dist" / "demo_fn-1.0.0-function.zip").is_file()


def test_single_module_project(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", 'handler = "lambda_function.lambda_handler"\n', files={
        "lambda_function.py": "def lambda_handler(event, context):\n    return 1\n",
    })
    shutil.rmtree(root / "demo_fn")
    build(root)
    assert listing(root / "dist" / "demo_fn-1.0.0-function.zip") == ["lambda_function.py"]


def test_no_code_to_ship_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'handler = "app.main.handler"\n')
    shutil.rmtree(root / "demo_fn")
    err = fail(root, capsys)
    assert (
        f"{root}/pyproject.toml: cannot tell which files form the function zip: there is no package named like the "
        "project ('demo-fn') and no handler module 'app' at the project root or under src/. Name them in "
        "`[tool.hatch.build.targets.lambda]`, e.g. `only-include = [\"lambda_function.py\"]`" in err
    )
    assert "Traceback" not in err


def test_clean_with_a_bad_config_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hatch_lambda.builder import LambdaBuilder

    root = make_project(tmp_path / "p", 'runtime = "python3.9"\n')
    with pytest.raises(SystemExit):
        list(LambdaBuilder(str(root)).build(directory=str(root / "dist"), clean_only=True))
    err = capsys.readouterr().err
    assert "Field `tool.hatch.build.targets.lambda.runtime` must be one of" in err
    assert "Traceback" not in err


def test_bad_environment_override_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HATCH_LAMBDA_RUNTIME", "python3.9")
    root = make_project(tmp_path / "p")
    err = fail(root, capsys)
    assert (
        "Environment variable HATCH_LAMBDA_RUNTIME is 'python3.9'; it overrides "
        "`tool.hatch.build.targets.lambda.runtime` and must be one of python3.10, python3.11, python3.12, "
        "python3.13, python3.14." in err
    )
    assert artifacts(root) == []


def test_rebuild_of_an_older_version_is_the_newest_manifest(tmp_path: Path) -> None:
    """`hatch-lambda invoke` takes the newest manifest: an unchanged rebuild must still count as newest."""
    root = make_project(tmp_path / "p")
    build(root)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    build(root)
    pyproject.write_text(pyproject.read_text().replace('version = "2.0.0"', 'version = "1.0.0"'))
    old = root / "dist" / "demo_fn-1.0.0-lambda.json"
    os.utime(old, (1_000_000_000, 1_000_000_000))
    build(root)
    newest = max((root / "dist").glob("*-lambda.json"), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == "demo_fn-1.0.0-lambda.json"
