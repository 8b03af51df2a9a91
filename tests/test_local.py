"""`hatch-lambda invoke` / `run` against built artifacts laid out like Lambda (in-process `cli.main`)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from hatch_lambda import cli, local
from hatch_lambda.errors import LocalRunError
from hatch_lambda.manifest import Manifest
from hatch_lambda.runtimes import RUNTIMES
from helpers import SAMPLES, build, make_project, make_wheel

HOST_RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
HOST_PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
HELLO_OUTPUT = '{"statusCode": 200, "body": "\\"Message from script: Hello from layer!\\\\n\\""}'
# Generous: the machine is shared; only the hang tests rely on a timeout firing.
SLOW = "60"
ELF_MACHINE_CODES = {"x86_64": 62, "aarch64": 183}


def project(tmp_path: Path, handler: str, config: str = "", files: dict[str, str] | None = None,
            runtime: str = HOST_RUNTIME, **kwargs: object) -> Path:
    """A built project whose `demo_fn/handler.py` is `handler` (dedented); `main` is the handler."""
    root = make_project(
        tmp_path / "p",
        f'runtime = "{runtime}"\nhandler = "demo_fn.handler.main"\n' + textwrap.dedent(config),
        files={"demo_fn/handler.py": textwrap.dedent(handler), **(files or {})},
        **kwargs,  # type: ignore[arg-type]
    )
    quiet_build(root)
    return root


def quiet_build(root: Path, directory: Path | None = None) -> None:
    """Builds in-process; the build's table and warnings stay out of the output the tests compare."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            build(root, directory=directory)
    except SystemExit:
        raise AssertionError(f"the build failed:\n{printed.getvalue()}") from None


def invoke(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["invoke", str(root), "--timeout", SLOW, "-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def layout_of(root: Path) -> local.Layout:
    return local.ensure_layout(local.find_build(root))


def elf_header(machine: str) -> bytes:
    """The first bytes of a 64-bit little-endian ELF shared object for `machine`."""
    return b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (3).to_bytes(2, "little") \
        + ELF_MACHINE_CODES[machine].to_bytes(2, "little") + b"\0" * 44


def host(**changes: object) -> local.Interpreter:
    base = local.Interpreter("/usr/bin/python3.11", (3, 11), "3.11.9", "cpython", "Linux", "x86_64", (2, 36))
    return local.Interpreter(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def manifest(runtime: str = "python3.11", architecture: str = "x86_64") -> Manifest:
    return Manifest("demo_fn", "1.0.0", runtime, runtime.removeprefix("python"), architecture, None, None, ())


# --- the write-up's example -----------------------------------------------------------------------

def test_hello_layer_returns_the_write_ups_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "hello_layer"
    shutil.copytree(SAMPLES / "hello_layer", root, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    quiet_build(root)
    code, out, _ = invoke(capsys, root)
    assert (code, out) == (0, HELLO_OUTPUT + "\n")


def test_version_mismatch_is_said_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "python3.12" if HOST_RUNTIME != "python3.12" else "python3.13"
    root = project(tmp_path, "def main(event, context):\n    return 1\n", runtime=other)
    code, out, err = invoke(capsys, root)
    assert (code, out) == (0, "1\n")
    assert f"hatch-lambda: warning: the build targets {other} (Python {other[6:]}) but this interpreter is " in err
    assert "Pure-Python code still runs" in err


# --- Lambda's layout: search order, environment, context ------------------------------------------

def test_search_order_is_lambdas_and_nothing_from_the_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, """\
        import os, sys
        def main(event, context):
            return {"path": sys.path, "cwd": os.getcwd(), "site": "site" in sys.modules,
                    "flags": [sys.flags.isolated, sys.flags.no_site]}
        """)
    code, out, _ = invoke(capsys, root)
    result = json.loads(out)
    layout = layout_of(root)
    site = layout.opt / "python" / "lib" / f"python{HOST_PY}" / "site-packages"
    assert code == 0
    assert result["path"][:3] == [str(layout.task), str(site), str(layout.opt / "python")]
    assert [p for p in result["path"][3:] if "site-packages" in p or "dist-packages" in p] == []
    assert result["cwd"] == str(layout.task)
    assert (result["site"], result["flags"]) == (False, [1, 1])


def test_lambda_environment_variables(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    root = project(tmp_path, "import os\ndef main(event, context):\n    return dict(os.environ)\n")
    code, out, _ = invoke(capsys, root, "--env", "STAGE=dev", "--memory", "512")
    env = json.loads(out)
    layout = layout_of(root)
    assert code == 0
    assert {k: env[k] for k in (
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER", "TZ", "LANG", "STAGE")} == {
        "LAMBDA_TASK_ROOT": str(layout.task),
        "LAMBDA_RUNTIME_DIR": str(layout.root / "runtime"),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{HOST_RUNTIME}",
        "AWS_LAMBDA_FUNCTION_NAME": "demo_fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/demo_fn",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "_HANDLER": "demo_fn.handler.main",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "STAGE": "dev",
    }
    assert env["PATH"].split(os.pathsep)[0] == str(layout.opt / "bin")
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[:3] == [str(layout.task), str(layout.task / "lib"),
                                                             str(layout.opt / "lib")]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert "PYTHONPATH" not in env


def test_context_object_has_lambdas_attributes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    root = project(tmp_path, """\
        def main(event, context):
            names = ["function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb",
                     "aws_request_id", "log_group_name", "log_stream_name"]
            found = {name: getattr(context, name) for name in names}
            found["remaining"] = context.get_remaining_time_in_millis()
            return found
        """)
    code, out, _ = invoke(capsys, root, "--function-name", "orders")
    context = json.loads(out)
    assert code == 0
    assert context["function_name"] == "orders"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    assert context["memory_limit_in_mb"] == "128"  # a string on Lambda as well
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", context["aws_request_id"])
    assert context["log_group_name"] == "/aws/lambda/orders"
    assert context["log_stream_name"].startswith(time.strftime("%Y/%m/", time.gmtime()))
    assert 0 < context["remaining"] <= int(SLOW) * 1000


def test_event_is_passed_and_prints_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, """\
        import logging, subprocess
        def main(event, context):
            print("from print")
            logging.getLogger().warning("from logging")
            subprocess.run(["echo", "from a child process"], check=True)
            return {"got": event}
        """)
    event = tmp_path / "event.json"
    event.write_text('{"name": "Ada", "n": [1, 2.5, null]}')
    code, out, err = invoke(capsys, root, "--event", str(event))
    assert (code, out) == (0, '{"got": {"name": "Ada", "n": [1, 2.5, null]}}\n')
    assert "from print\n" in err
    assert re.search(r"\[WARNING\]\t\d{4}-\d\d-\d\dT[\d:]{8}\.\d{3}Z\t[0-9a-f-]{36}\tfrom logging\n", err)
    assert "from a child process\n" in err


def test_start_end_report_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(event, context):\n    return context.aws_request_id\n")
    code = cli.main(["invoke", str(root), "--timeout", SLOW])
    out, err = capsys.readouterr()
    request_id = json.loads(out)
    assert code == 0
    assert f"START RequestId: {request_id} Version: $LATEST\n" in err
    assert f"END RequestId: {request_id}\n" in err
    assert f"REPORT RequestId: {request_id}\tInit Duration: " in err


def test_non_ascii_response_follows_the_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 'h\u00e9'\n", runtime="python3.12")
    assert invoke(capsys, root)[1] == '"h\u00e9"\n'  # python3.12+ writes text unescaped
    root = project(tmp_path / "old", "def main(event, context):\n    return 'h\u00e9'\n", runtime="python3.11")
    assert invoke(capsys, root)[1] == '"h\\u00e9"\n'


# --- layers: merge order, modes -------------------------------------------------------------------

TWO_TOOLS = """\
    [[tool.hatch.build.targets.lambda.layers]]
    name = "first"
    paths = { "first/tool" = "bin/tool" }
    [[tool.hatch.build.targets.lambda.layers]]
    name = "second"
    paths = { "second/tool" = "bin/tool" }
    """
RUN_TOOL = """\
    import subprocess
    def main(event, context):
        return subprocess.run(["tool"], capture_output=True, text=True, check=True).stdout
    """
TOOLS = {"first/tool": "#!/bin/sh\necho first\n", "second/tool": "#!/bin/sh\necho second\n"}


def test_later_layer_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, RUN_TOOL, TWO_TOOLS, files=TOOLS)
    manifest = json.loads(next((root / "dist").glob("*-lambda.json")).read_text())
    assert [layer["name"] for layer in manifest["layers"]] == ["first", "second"]
    assert invoke(capsys, root)[:2] == (0, '"second\\n"\n')
    assert (layout_of(root).opt / "bin" / "tool").read_text() == "#!/bin/sh\necho second\n"


def test_layer_order_decides_which_file_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = 'deps-layer = false\nlayer-order = ["second", "first"]\n' + TWO_TOOLS
    root = project(tmp_path, RUN_TOOL, config, files=TOOLS)
    assert invoke(capsys, root)[:2] == (0, '"first\\n"\n')


def test_file_modes_are_restored_from_the_zips(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 1\n", TWO_TOOLS, files=TOOLS)
    layout = layout_of(root)
    assert stat.S_IMODE((layout.opt / "bin" / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((layout.task / "demo_fn" / "handler.py").stat().st_mode) == 0o644
    assert sorted(p.relative_to(layout.root).as_posix() for p in layout.root.rglob("*") if p.is_file()) == [
        "layout.json", "opt/bin/tool", "task/demo_fn/__init__.py", "task/demo_fn/handler.py",
    ]


def test_function_zip_shadows_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "import shared\ndef main(event, context):\n    return shared.WHERE\n", """\
        [[tool.hatch.build.targets.lambda.layers]]
        paths = { "layer_py/shared.py" = "python/shared.py" }
        [tool.hatch.build.targets.lambda.force-include]
        "fn_shared.py" = "shared.py"
        """, files={"layer_py/shared.py": "WHERE = 'layer'\n", "fn_shared.py": "WHERE = 'function'\n"})
    assert invoke(capsys, root)[:2] == (0, '"function"\n')


# --- isolation: the host's packages do not leak in ------------------------------------------------

def test_dependency_missing_from_the_layer_fails_to_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pytest as installed_on_host  # noqa: F401 - the point: the host has it, the artifacts do not

    root = project(tmp_path, "import pytest\ndef main(event, context):\n    return pytest.__file__\n")
    code, out, err = invoke(capsys, root)
    assert code == 1
    assert json.loads(out) == {
        "errorMessage": "Unable to import module 'demo_fn.handler': No module named 'pytest'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert err.endswith(
        "hatch-lambda: error: the handler could not be loaded: Runtime.ImportModuleError: "
        "Unable to import module 'demo_fn.handler': No module named 'pytest'\n"
    )


def offline_deps_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: str) -> Path:
    """A project whose dependency layer holds `layerpkg` from a local wheelhouse, plus a bin/tool layer."""
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "layerpkg", "2.0")
    return project(tmp_path, handler, f"""\
        pip-args = ["--no-index", "--find-links", "{wheels.as_posix()}"]
        [[tool.hatch.build.targets.lambda.layers]]
        paths = ["bin"]
        """, files={"bin/tool": "#!/bin/sh\necho tool from the layer\n"}, dependencies=["layerpkg"])


def test_dependency_layer_is_importable_under_invoke(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    handler = "import layerpkg\ndef main(e, c):\n    return layerpkg.__file__\n"
    root = offline_deps_project(tmp_path, monkeypatch, handler)
    code, out, _ = invoke(capsys, root)
    assert (code, json.loads(out)) == (0, str(layout_of(root).opt / "python" / "layerpkg" / "__init__.py"))


def test_run_sees_the_layers_packages_and_tools(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = offline_deps_project(tmp_path, monkeypatch, "def main(e, c):\n    return 1\n")
    capfd.readouterr()
    script = ("import layerpkg, shutil, subprocess; print(layerpkg.__file__); print(shutil.which('tool')); "
              "print(subprocess.run(['tool'], capture_output=True, text=True).stdout, end='')")
    code = cli.main(["run", str(root), "--", "python", "-c", script])
    out, _ = capfd.readouterr()
    layout = layout_of(root)
    assert code == 0
    assert out.splitlines() == [
        str(layout.opt / "python" / "layerpkg" / "__init__.py"),
        str(layout.opt / "bin" / "tool"),
        "tool from the layer",
    ]


def test_run_puts_the_layout_first_on_pythonpath(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    capfd.readouterr()
    code = cli.main(["run", str(root), "--", "python", "-c", "import os; print(os.environ['PYTHONPATH'])"])
    layout = layout_of(root)
    out = capfd.readouterr().out.strip().split(os.pathsep)
    assert code == 0
    assert out[:3] == [str(layout.task), str(layout.site_packages), str(layout.opt / "python")]


def test_run_returns_the_commands_exit_status(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    assert cli.main(["run", str(root), "--", "python", "-c", "raise SystemExit(7)"]) == 7
    assert cli.main(["run", str(root), "--", "sh", "-c", "kill -TERM $$"]) == 128 + 15


def test_run_unknown_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    assert cli.main(["run", str(root), "--", "no-such-tool-xyz"]) == 2
    assert capsys.readouterr().err == (
        "hatch-lambda: error: Command not found: 'no-such-tool-xyz' "
        f"(searched {layout_of(root).opt / 'bin'} and PATH).\n"
    )


def test_runtime_path_stands_in_for_the_runtimes_packages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runtime_dir = tmp_path / "runtime-packages"
    (runtime_dir / "boto3").mkdir(parents=True)
    (runtime_dir / "boto3" / "__init__.py").write_text("FAKE = True\n")
    root = project(tmp_path, "import boto3\ndef main(e, c):\n    return boto3.FAKE\n")
    assert invoke(capsys, root)[0] == 1
    assert invoke(capsys, root, "--runtime-path", str(runtime_dir))[:2] == (0, "true\n")


# --- the layout cache -----------------------------------------------------------------------------

def test_layout_is_extracted_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n", TWO_TOOLS, files=TOOLS)
    extracted: list[str] = []
    real = local.extract_zip
    monkeypatch.setattr(local, "extract_zip", lambda z, d: (extracted.append(z.name), real(z, d))[1])
    assert invoke(capsys, root)[:2] == (0, "1\n")
    assert invoke(capsys, root)[:2] == (0, "1\n")
    assert len(extracted) == 3  # function + two layers, once
    key = local.layout_key(local.find_build(root).manifest)
    assert sorted(p.name for p in local.default_layouts_dir().iterdir()) == [key]


def test_layout_key_follows_the_artifacts_and_their_order() -> None:
    from hatch_lambda.manifest import Artifact

    def art(sha: str) -> Artifact:
        return Artifact(f"{sha[:4]}.zip", "binary-layer", sha[:4], sha * 64, 1, 1, "f" * 64, "built")

    base = Manifest("n", "1", "python3.12", "3.12", "x86_64", "a.b", art("a"), (art("b"), art("c")))
    same = Manifest("other", "2", "python3.12", "3.12", "arm64", None, art("a"), (art("b"), art("c")))
    swapped = Manifest("n", "1", "python3.12", "3.12", "x86_64", "a.b", art("a"), (art("c"), art("b")))
    assert local.layout_key(base) == local.layout_key(same)
    assert local.layout_key(base) != local.layout_key(swapped)
    assert re.fullmatch(r"[0-9a-f]{64}", local.layout_key(base))


def test_a_new_build_gets_a_new_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    assert invoke(capsys, root)[1] == "1\n"
    (root / "demo_fn" / "handler.py").write_text("def main(e, c):\n    return 2\n")
    quiet_build(root)
    assert invoke(capsys, root)[1] == "2\n"
    assert len(list(local.default_layouts_dir().iterdir())) == 2


def test_failed_extraction_leaves_no_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n", TWO_TOOLS, files=TOOLS)
    real = local.extract_zip

    def killed(zip_path: Path, destination: Path) -> None:
        real(zip_path, destination)
        if "second" in zip_path.name:
            raise KeyboardInterrupt  # as if the user pressed ^C half-way

    monkeypatch.setattr(local, "extract_zip", killed)
    with pytest.raises(KeyboardInterrupt):
        local.ensure_layout(local.find_build(root))
    assert list(local.default_layouts_dir().iterdir()) == []
    monkeypatch.setattr(local, "extract_zip", real)
    assert invoke(capsys, root)[:2] == (0, "1\n")


def test_half_layouts_are_never_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    layouts = local.default_layouts_dir()
    key = local.layout_key(local.find_build(root).manifest)
    # What a `kill -9` during extraction leaves (a temp tree), and a tree someone emptied by hand.
    (layouts / f".tmp-{key[:12]}-dead" / "task").mkdir(parents=True)
    (layouts / key / "task").mkdir(parents=True)
    assert invoke(capsys, root)[:2] == (0, "1\n")
    assert (layouts / key / "layout.json").is_file()
    assert (layouts / key / "task" / "demo_fn" / "handler.py").is_file()


def test_stale_temp_trees_are_removed(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    layouts = local.default_layouts_dir()
    stale, fresh = layouts / ".tmp-abc-old", layouts / ".tmp-abc-new"
    stale.mkdir(parents=True)
    fresh.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    local.ensure_layout(local.find_build(root))
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a run in progress


def test_refresh_extracts_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    handler = layout_of(root).task / "demo_fn" / "handler.py"
    handler.write_text("def main(e, c):\n    return 'edited in the cache'\n")
    assert invoke(capsys, root)[1] == '"edited in the cache"\n'
    assert invoke(capsys, root, "--refresh")[1] == "1\n"


def test_layouts_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert local.default_layouts_dir({"HATCH_LAMBDA_LAYOUTS": str(tmp_path)}) == tmp_path
    if sys.platform.startswith("linux"):
        assert local.default_layouts_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/hatch-lambda/layouts")


# --- extraction -----------------------------------------------------------------------------------

def write_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_extract_replaces_files_and_keeps_symlinks(tmp_path: Path) -> None:
    dest = tmp_path / "opt"
    dest.mkdir()
    local.extract_zip(write_zip(tmp_path / "a.zip", [("bin/tool", b"a", 0o100755), ("lib/x", b"x", 0o100600)]), dest)
    local.extract_zip(write_zip(tmp_path / "b.zip", [("bin/tool", b"b", 0o100644),
                                                     ("lib/link", b"x", 0o120777)]), dest)
    assert (dest / "bin" / "tool").read_bytes() == b"b"
    assert stat.S_IMODE((dest / "bin" / "tool").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "lib" / "x").stat().st_mode) == 0o600
    assert os.readlink(dest / "lib" / "link") == "x"


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "a/../../evil", "a\\..\\evil"])
def test_extract_refuses_paths_leaving_the_directory(tmp_path: Path, name: str) -> None:
    archive = write_zip(tmp_path / "bad.zip", [(name, b"x", 0o100644)])
    with pytest.raises(LocalRunError, match=re.escape(f"holds the entry {name!r}, which points outside")):
        local.extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_scan_finds_native_code_by_header(tmp_path: Path) -> None:
    opt = tmp_path / "opt" / "python" / "pkg"
    opt.mkdir(parents=True)
    (tmp_path / "task").mkdir()
    (opt / "_ext.cpython-312-x86_64-linux-gnu.so").write_bytes(elf_header("x86_64"))
    (opt / "tool").write_bytes(elf_header("aarch64"))
    (opt / "notes.so").write_text("not a binary")
    info_dir = tmp_path / "opt" / "python" / "pkg-1.0.dist-info"
    info_dir.mkdir()
    (info_dir / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64\n")
    secret = tmp_path / "task" / "secret.py"
    secret.write_text("")
    secret.chmod(0o600)
    info = local.scan(tmp_path)
    assert info.native == (
        local.NativeFile("opt/python/pkg/_ext.cpython-312-x86_64-linux-gnu.so", "elf", "x86_64", "3.12"),
        local.NativeFile("opt/python/pkg/tool", "elf", "aarch64", None),
    )
    assert info.wheels == (local.BinaryWheel("opt/python/pkg-1.0.dist-info", (
        "cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64")),)
    assert info.unreadable == ("task/secret.py",)


# --- honest limits: what this host can load -------------------------------------------------------

def test_pure_python_on_another_version_only_warns() -> None:
    result = local.assess(local.LayoutInfo(), manifest("python3.12"), host())
    assert result.problems == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("the build targets python3.12 (Python 3.12) but this interpreter is "
                                         "CPython 3.11.9 on Linux x86_64, glibc 2.36 (/usr/bin/python3.11).")


def test_same_version_and_pure_python_says_nothing() -> None:
    assert local.assess(local.LayoutInfo(), manifest("python3.11", "arm64"), host()) == local.Assessment()


@pytest.mark.parametrize(("tags", "interpreter", "loads"), [
    (("cp311-cp311-manylinux_2_17_x86_64",), host(), True),
    (("cp312-cp312-manylinux_2_17_x86_64",), host(), False),  # another CPython ABI
    (("cp311-cp311-manylinux_2_34_x86_64",), host(glibc=(2, 26)), False),  # host glibc too old
    (("cp311-cp311-manylinux2014_x86_64",), host(glibc=(2, 17)), True),
    (("cp311-cp311-manylinux_2_17_aarch64",), host(), False),  # another machine
    (("cp38-abi3-manylinux_2_17_x86_64",), host(), True),  # stable ABI from 3.8 on
    (("cp312-abi3-manylinux_2_17_x86_64",), host(), False),
    (("py3-none-manylinux_2_17_x86_64",), host(), True),
    (("cp311-cp311-manylinux_2_17_x86_64",), host(system="Darwin", glibc=None), False),
    (("cp311-cp311-manylinux_2_17_x86_64",), host(implementation="pypy"), False),
])
def test_binary_wheels_against_the_host(tags: tuple[str, ...], interpreter: local.Interpreter, loads: bool) -> None:
    info = local.LayoutInfo(wheels=(local.BinaryWheel("opt/python/x-1.dist-info", tags),))
    assert (local.assess(info, manifest(), interpreter).problems == ()) is loads


def test_native_findings_name_the_file_and_the_reason() -> None:
    info = local.LayoutInfo(native=(
        local.NativeFile("opt/lib/libarm.so", "elf", "aarch64", None),
        local.NativeFile("opt/python/m.cpython-312-x86_64-linux-gnu.so", "elf", "x86_64", "3.12"),
        local.NativeFile("opt/lib/libmac.dylib", "mach-o", None, None),
    ))
    result = local.assess(info, manifest("python3.11", "arm64"), host())
    assert result.problems == (
        "this host (CPython 3.11.9 on Linux x86_64, glibc 2.36) cannot load native code in the build "
        "(python3.11 on arm64):",
        "opt/lib/libarm.so: an ELF binary for aarch64; this host is x86_64",
        "opt/python/m.cpython-312-x86_64-linux-gnu.so: an extension module for Python 3.12; this interpreter is "
        "3.11; Lambda cannot load it either",
        "opt/lib/libmac.dylib: a macOS (Mach-O) binary; Lambda cannot load it either",
    )


def test_entries_lambda_cannot_read_are_a_warning() -> None:
    result = local.assess(local.LayoutInfo(unreadable=("task/secret.py",)), manifest(), host())
    assert result.problems == ()
    assert result.warnings == (
        "Lambda runs your code as a non-root user that needs world-read permission (and world-execute on "
        "directories); these entries lack it and will fail to load on Lambda although they load here:\n"
        "  - task/secret.py",
    )


def test_binary_that_only_this_host_loads_is_a_warning() -> None:
    info = local.LayoutInfo(native=(local.NativeFile("opt/lib/libx86.so", "elf", "x86_64", None),))
    result = local.assess(info, manifest("python3.11", "arm64"), host())
    assert result.problems == ()
    assert result.warnings == ("opt/lib/libx86.so loads here but not on Lambda: an ELF binary for x86_64, "
                               "but the build targets arm64.",)


def test_native_code_for_another_machine_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = local.interpreter()
    other, arch = ("aarch64", "arm64") if here.machine == "x86_64" else ("x86_64", "x86_64")
    root = make_project(tmp_path / "p", f"""\
        runtime = "{HOST_RUNTIME}"
        architecture = "{arch}"
        handler = "demo_fn.handler.main"
        [[tool.hatch.build.targets.lambda.layers]]
        paths = ["lib"]
        """, files={"lib/libfast.so": ""})
    (root / "lib" / "libfast.so").write_bytes(elf_header(other))
    quiet_build(root)
    code, out, err = invoke(capsys, root)
    assert (code, out) == (2, "")
    assert err == (
        f"hatch-lambda: error: This host ({here.describe()}) cannot load native code in the build "
        f"({HOST_RUNTIME} on {arch}):\n"
        f"  - opt/lib/libfast.so: an ELF binary for {other}; this host is {here.machine}\n"
        f"Importing it here would fail. Run on a matching host (Linux {other}, Python {HOST_PY}; --python picks "
        "the interpreter), or pass --force to run anyway (code paths that do not load it still work).\n"
    )
    code, out, err = invoke(capsys, root, "--force")
    assert (code, out) == (0, '{"ok": true, "event": {}}\n')
    assert err.startswith("hatch-lambda: warning: --force: running anyway. This host")


def test_python_option_probes_the_interpreter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "import sys\ndef main(e, c):\n    return sys.executable\n")
    code, out, _ = invoke(capsys, root, "--python", sys.executable)
    assert (code, json.loads(out)) == (0, local.interpreter(sys.executable).executable)
    assert local.interpreter(sys.executable) == local.interpreter()


# --- bad input and failing handlers ---------------------------------------------------------------

def test_no_build_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p")
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: No build yet: {root / 'dist'} does not exist. "
        f"Build first: run `hatch build -t lambda` in {root}.\n"
    )
    (root / "dist").mkdir()
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: No build yet: {root / 'dist'} holds no build manifest (*-lambda.json). "
        f"Build first: run `hatch build -t lambda` in {root}.\n"
    )


def test_project_dir_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(tmp_path / "nope"), "--", "true"]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: {tmp_path / 'nope'} is not a project directory (it does not exist or is not a "
        "directory).\n"
    )


def test_configured_output_directory_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'handler = "demo_fn.handler.main"\ndirectory = "out"\n')
    quiet_build(root, directory=root / "out")
    assert invoke(capsys, root)[:2] == (0, '{"ok": true, "event": {}}\n')
    assert local.configured_dist(root) == root / "out"


def test_newest_manifest_is_the_last_build(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    dist = root / "dist"
    old = dist / "demo_fn-0.9.0-lambda.json"
    shutil.copy(dist / "demo_fn-1.0.0-lambda.json", old)
    os.utime(old, (time.time() - 100, time.time() - 100))
    assert local.find_build(root).manifest_path == dist / "demo_fn-1.0.0-lambda.json"
    assert local.find_build(old).manifest_path == old  # a manifest can be named directly


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)."),
    ("[1, 2]", "must hold a JSON object, not list."),
    ('{"manifest_version": 99}', "has manifest_version 99; this hatch-lambda reads version 1."),
    ('{"manifest_version": 1, "name": "x"}', "lacks the field 'version'."),
])
def test_corrupt_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    path = root / "dist" / "demo_fn-1.0.0-lambda.json"
    path.write_text(text)
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: The build manifest {path} {message} Rebuild with `hatch build -t lambda`.\n"
    )


def test_manifest_naming_a_file_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    path = root / "dist" / "demo_fn-1.0.0-lambda.json"
    data = json.loads(path.read_text())
    data["function"]["file"] = "../../etc/passwd"
    path.write_text(json.dumps(data))
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: The build manifest {path} names the artifact '../../etc/passwd', not a file name "
        "beside it.\n"
    )


def test_missing_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    (root / "dist" / "demo_fn-1.0.0-function.zip").unlink()
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: The build manifest {root / 'dist' / 'demo_fn-1.0.0-lambda.json'} lists "
        f"demo_fn-1.0.0-function.zip (function zip), which is missing from {root / 'dist'}. "
        "Rebuild with `hatch build -t lambda`.\n"
    )


def test_artifact_changed_after_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n", TWO_TOOLS, files=TOOLS)
    build_info = local.find_build(root)
    layer = build_info.manifest.layers[1]
    path = root / "dist" / layer.file
    path.write_bytes(path.read_bytes() + b"\0")
    actual = local.file_sha256(path)
    assert cli.main(["run", str(root), "--", "true"]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: {path} (layer 'second') changed after the build: its sha256 is {actual}, but the "
        f"build manifest {build_info.manifest_path} records {layer.sha256}. Rebuild with `hatch build -t lambda` "
        "so that what runs here is what you deploy.\n"
    )
    assert list(local.default_layouts_dir().glob("*")) == []


def test_malformed_event(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    event = tmp_path / "event.json"
    event.write_text('{"a": 1,}')
    assert cli.main(["invoke", str(root), "--event", str(event)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: --event {event}: the event is not valid JSON (Expecting property name enclosed in "
        'double quotes at line 1, column 9). Lambda events are JSON documents, e.g. {"key": "value"}.\n'
    )
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("nope"))
    assert cli.main(["invoke", str(root), "--event", "-"]) == 2
    assert "--event stdin: the event is not valid JSON (Expecting value at line 1, column 1)" in capsys.readouterr().err
    assert cli.main(["invoke", str(root), "--event", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err == f"hatch-lambda: error: --event {tmp_path / 'missing.json'}: no such file.\n"


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("demo_fn.nothere.main", "Runtime.ImportModuleError",
     "Unable to import module 'demo_fn.nothere': No module named 'demo_fn.nothere'"),
    ("demo_fn.handler.nothere", "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'demo_fn.handler'"),
    ("nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots': not enough values to unpack (expected 2, got 1)"),
])
def test_unknown_handler(tmp_path: Path, capsys: pytest.CaptureFixture[str], handler: str, error_type: str,
                         message: str) -> None:
    root = project(tmp_path, "def main(e, c):\n    return 1\n")
    code, out, err = invoke(capsys, root, "--handler", handler)
    assert code == 1
    assert json.loads(out) == {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}
    assert err.endswith(f"hatch-lambda: error: the handler could not be loaded: {error_type}: {message}\n")


def test_no_handler_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p")
    quiet_build(root)
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: The build manifest {root / 'dist' / 'demo_fn-1.0.0-lambda.json'} records no handler "
        "(`handler` in [tool.hatch.build.targets.lambda] is unset). Set it and rebuild, or pass --handler "
        "package.module.function.\n"
    )


def test_layers_only_build_cannot_be_invoked_but_can_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "p", 'handler = "demo_fn.handler.main"\n' + TWO_TOOLS, files=TOOLS)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        build(root, versions=["layers"])
    assert cli.main(["invoke", str(root)]) == 2
    assert capsys.readouterr().err == (
        f"hatch-lambda: error: The build manifest {root / 'dist' / 'demo_fn-1.0.0-lambda.json'} lists no function "
        "zip (a `lambda:layers` build?); build the function too: `hatch build -t lambda`.\n"
    )
    assert cli.main(["run", str(root), "--", "tool"]) == 0


def test_handler_that_raises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, """\
        def helper(event):
            raise ValueError(f"bad order {event['id']}")
        def main(event, context):
            return helper(event)
        """)
    event = tmp_path / "e.json"
    event.write_text('{"id": 7}')
    code, out, err = invoke(capsys, root, "--event", str(event))
    error = json.loads(out)
    path = layout_of(root).task / "demo_fn" / "handler.py"
    assert code == 1
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert (error["errorMessage"], error["errorType"]) == ("bad order 7", "ValueError")
    assert error["stackTrace"] == [
        f'  File "{path}", line 4, in main\n    return helper(event)\n',
        f'  File "{path}", line 2, in helper\n    raise ValueError(f"bad order {{event[\'id\']}}")\n',
    ]
    assert "[ERROR] ValueError: bad order 7\nTraceback (most recent call last):\n" in err
    assert err.endswith("hatch-lambda: error: the handler raised ValueError: bad order 7\n")


def test_error_while_importing_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "raise RuntimeError('no config')\ndef main(e, c):\n    return 1\n")
    code, out, _ = invoke(capsys, root)
    error = json.loads(out)
    assert code == 1
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("RuntimeError", "no config", "")


def test_syntax_error_in_the_handler_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The build checks the configured handler's syntax; a module it imports is only found out at run time.
    root = project(tmp_path, "from demo_fn import broken\ndef main(e, c):\n    return 1\n",
                   files={"demo_fn/broken.py": "def f(e, c)\n    return 1\n"})
    code, out, _ = invoke(capsys, root)
    error = json.loads(out)
    assert (code, error["errorType"]) == (1, "Runtime.UserCodeSyntaxError")
    assert error["errorMessage"] == "Syntax error in module 'demo_fn.handler': expected ':' (broken.py, line 1)"
    assert error["stackTrace"] == [f'  File "{layout_of(root).task / "demo_fn" / "broken.py"}" Line 1\n'
                                   "    def f(e, c)\n"]


def test_relative_paths_are_made_absolute(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "import os\ndef main(e, c):\n    return os.environ['LAMBDA_TASK_ROOT']\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HATCH_LAMBDA_LAYOUTS", "cache")
    code, out, _ = invoke(capsys, Path("p"), "--dist", "p/dist")
    assert (code, json.loads(out)) == (0, str(layout_of(root).task))
    assert json.loads(out).startswith(str(tmp_path / "cache"))


def test_response_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return {1, 2}\n")
    code, out, err = invoke(capsys, root)
    assert code == 1
    assert json.loads(out)["errorType"] == "Runtime.MarshalError"
    assert json.loads(out)["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
    assert err.endswith("hatch-lambda: error: the invocation failed: Runtime.MarshalError: Unable to marshal "
                        "response: Object of type set is not JSON serializable\n")


def test_handler_that_exits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "import os\ndef main(e, c):\n    os._exit(3)\n")
    code, out, err = invoke(capsys, root)
    error = json.loads(out)
    assert code == 1
    assert error["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: exit status 3",
                        error["errorMessage"])
    assert err.endswith("hatch-lambda: error: the Python process exited without a response (exit status 3).\n")


def _gone(pid: int) -> bool:
    """True once `pid` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_handler_that_hangs_is_killed_with_its_children(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "child.pid"
    root = project(tmp_path, f"""\
        import subprocess, time
        def main(event, context):
            child = subprocess.Popen(["sleep", "300"])
            open({str(pid_file)!r}, "w").write(str(child.pid))
            time.sleep(300)
        """)
    code = cli.main(["invoke", str(root), "--timeout", "3", "-q"])
    out, err = capsys.readouterr()
    error = json.loads(out)
    assert code == 1
    assert error["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Task timed out after 3.00 seconds", error["errorMessage"])
    assert err.endswith("hatch-lambda: error: timed out before returning: the handler ran longer than 3.00 s "
                        "(--timeout); it was killed with every process it started.\n")
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


def test_module_that_hangs_on_import(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "INIT_LIMIT", 0.5)
    root = project(tmp_path, "import time\ntime.sleep(300)\ndef main(e, c):\n    return 1\n")
    code = cli.main(["invoke", str(root), "--timeout", "0.5", "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["errorType"] == "Sandbox.Timedout"
    assert "timed out while importing the handler module" in err


def test_bytes_response_is_written_raw(tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    root = project(tmp_path, "def main(e, c):\n    return b'\\x00raw'\n")
    capfdbinary.readouterr()
    assert cli.main(["invoke", str(root), "--timeout", SLOW, "-q"]) == 0
    assert capfdbinary.readouterr().out == b"\x00raw"


# --- a real dependency layer from the package index -----------------------------------------------

@pytest.mark.network
def test_web_deps_uses_requests_and_pydantic_from_its_layer(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sample = SAMPLES / "web_deps"
    here = local.interpreter()
    if here.system != "Linux" or here.machine not in ("x86_64", "aarch64") or HOST_RUNTIME not in RUNTIMES:
        # Conditional by nature: on macOS or an unsupported Python the layer's native wheels cannot load.
        pytest.skip("needs a host like a Lambda runtime: Linux on x86_64 or aarch64 with Python 3.10-3.14")
    # Built for this host (the sample targets arm64 on python3.12), so its compiled wheel loads here.
    monkeypatch.setenv("HATCH_LAMBDA_RUNTIME", HOST_RUNTIME)
    monkeypatch.setenv("HATCH_LAMBDA_ARCHITECTURE", "x86_64" if here.machine == "x86_64" else "arm64")
    root = tmp_path / "web_deps"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("dist", "__pycache__", ".venv"))
    quiet_build(root)
    layout = layout_of(root)
    site = layout.opt / "python"
    versions = dict(p.name.removesuffix(".dist-info").split("-") for p in site.glob("*.dist-info"))
    assert [w.path for w in layout.info.wheels if "pydantic_core" in w.path] == [
        f"opt/python/pydantic_core-{versions['pydantic_core']}.dist-info"]
    event = tmp_path / "event.json"
    event.write_text('{"name": "Ada", "times": 2}')

    code, out, err = invoke(capfd, root, "--event", str(event))
    assert code == 0, out + err
    assert "hatch-lambda: warning" not in err
    response = json.loads(out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "message": "Hello, Ada! Hello, Ada!",
        "requests": versions["requests"],
        "pydantic": versions["pydantic"],
        "pydantic_core": versions["pydantic_core"],
    }
    event.write_text('{"name": ""}')
    code, out, _ = invoke(capfd, root, "--event", str(event))
    assert (code, json.loads(out)["statusCode"]) == (0, 400)  # pydantic's compiled validator ran

    script = "import requests, pydantic_core; print(requests.__file__); print(pydantic_core._pydantic_core.__file__)"
    assert cli.main(["run", str(root), "--", "python", "-c", script]) == 0
    printed = capfd.readouterr().out.splitlines()
    assert printed[0] == str(site / "requests" / "__init__.py")
    assert printed[1].startswith(str(site / "pydantic_core" / "_pydantic_core."))
