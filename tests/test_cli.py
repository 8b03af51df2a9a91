"""The `hatch-lambda` command line: options and exit statuses, in-process and through a real subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hatch_lambda import __version__, cli, local
from helpers import SAMPLES, build, make_project

HOST_RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
HELLO_OUTPUT = '{"statusCode": 200, "body": "\\"Message from script: Hello from layer!\\\\n\\""}'


def project(tmp_path: Path, handler: str) -> Path:
    root = make_project(tmp_path / "p", f'runtime = "{HOST_RUNTIME}"\nhandler = "demo_fn.handler.main"\n',
                        files={"demo_fn/handler.py": textwrap.dedent(handler)})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        build(root)
    return root


def hatch_lambda(*args: str, stdin: str = "", module: str = "hatch_lambda.cli") -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: its own process, its own exit status."""
    return subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=300)


# --- through a subprocess -------------------------------------------------------------------------

def test_invoke_with_event_on_stdin(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(event, context):\n    print('log line')\n    return {'hi': event['name']}\n")
    proc = hatch_lambda("invoke", str(root), "--event", "-", "--timeout", "60", stdin='{"name": "Ada"}')
    assert (proc.returncode, proc.stdout) == (0, '{"hi": "Ada"}\n')
    assert "START RequestId: " in proc.stderr
    assert "log line\n" in proc.stderr


def test_no_build_through_python_dash_m_hatch_lambda(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    proc = hatch_lambda("invoke", str(root), module="hatch_lambda")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"hatch-lambda: error: No build yet: {root / 'dist'} does not exist. "
        f"Build first: run `hatch build -t lambda` in {root}.\n"
    )


def test_handler_that_raises_exits_1_with_lambdas_error_document(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(event, context):\n    raise KeyError('missing')\n")
    proc = hatch_lambda("invoke", str(root), "--timeout", "60")
    error = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert (error["errorType"], error["errorMessage"]) == ("KeyError", "'missing'")
    assert proc.stderr.endswith("hatch-lambda: error: the handler raised KeyError: 'missing'\n")


def test_handler_that_hangs_exits_1(tmp_path: Path) -> None:
    root = project(tmp_path, "import time\ndef main(event, context):\n    time.sleep(300)\n")
    proc = hatch_lambda("invoke", str(root), "--timeout", "0.5", "-q")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in json.loads(proc.stdout)["errorMessage"]


def test_run_passes_the_commands_status_and_output(tmp_path: Path) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 1\n")
    code = "import demo_fn.handler as h, sys; print(h.__file__); sys.exit(5)"
    proc = hatch_lambda("run", str(root), "--", "python", "-c", code)
    layout = local.ensure_layout(local.find_build(root))
    assert (proc.returncode, proc.stdout) == (5, f"{layout.task / 'demo_fn' / 'handler.py'}\n")


def test_console_script_is_installed() -> None:
    script = shutil.which("hatch-lambda")
    assert script is not None, "the test command installs the package, and with it the hatch-lambda script"
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, f"hatch-lambda {__version__}\n")


# --- options, in-process --------------------------------------------------------------------------

def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hatch-lambda {__version__}\n"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "invoke" in out and "run" in out and "layout" in out
    assert "exit status: 0 the handler returned" in out


def test_defaults() -> None:
    args = cli.build_parser().parse_args(["invoke"])
    assert (args.project, args.timeout, args.memory, args.event, args.handler) == (".", 3.0, 128, None, None)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "the following arguments are required: COMMAND"),
    (["invoke", "--timeout", "0"], "argument --timeout: must be more than 0 and at most 900 seconds (Lambda's range), "
                                   "not '0'"),
    (["invoke", "--timeout", "901"], "argument --timeout: must be more than 0 and at most 900 seconds"),
    (["invoke", "--timeout", "soon"], "argument --timeout: must be a number of seconds, not 'soon'"),
    (["invoke", "--memory", "64"], "argument --memory: must be whole MB from 128 to 10240 (Lambda's range), not '64'"),
    (["invoke", "--env", "NOVALUE"], "argument --env: must look like NAME=VALUE, not 'NOVALUE'"),
    (["run"], "run needs a command after `--`, e.g. hatch-lambda run -- pytest"),
    (["run", "."], "run needs a command after `--`"),
    (["invoke", ".", "--", "pytest"], "`--` only goes with `run`; invoke does not take a command"),
    (["deploy"], "argument COMMAND: invalid choice: 'deploy'"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_layout_prints_the_extracted_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 1\n")
    assert cli.main(["layout", str(root)]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == local.default_layouts_dir() / local.layout_key(local.find_build(root).manifest)
    assert sorted(p.name for p in printed.iterdir()) == ["layout.json", "opt", "pycache", "runtime", "task"]


def test_runtime_path_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 1\n")
    assert cli.main(["invoke", str(root), "--runtime-path", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"hatch-lambda: error: --runtime-path {tmp_path / 'nope'}: no such directory.\n"


def test_python_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "def main(event, context):\n    return 1\n")
    assert cli.main(["invoke", str(root), "--python", "no-such-python-9.9"]) == 2
    assert capsys.readouterr().err == (
        "hatch-lambda: error: --python no-such-python-9.9: no such interpreter (not a file, not a command on PATH).\n"
    )


# --- end to end: the README's commands on the sample ----------------------------------------------

@pytest.mark.e2e
def test_readme_commands_on_hello_layer(tmp_path: Path) -> None:
    """`hatch build -t lambda` (the real one) then `hatch-lambda invoke` prints the write-up's output."""
    env = {**os.environ, "HATCH_DATA_DIR": str(tmp_path / "hatch-data")}
    env.pop("SOURCE_DATE_EPOCH", None)
    out = tmp_path / "dist"  # not the sample's own dist/: other test sessions may build it at the same time
    proc = subprocess.run(["hatch", "build", "-t", "lambda", str(out)], cwd=SAMPLES / "hello_layer", env=env,
                          capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = shutil.which("hatch-lambda")
    command = [script] if script else [sys.executable, "-m", "hatch_lambda"]
    proc = subprocess.run([*command, "invoke", str(SAMPLES / "hello_layer"), "--dist", str(out)], env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert (proc.returncode, proc.stdout) == (0, HELLO_OUTPUT + "\n"), proc.stderr
