"""The `hatch-lambda` console script: `invoke` a handler or `run` a command against the built artifacts."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from hatch_lambda import __version__, local
from hatch_lambda.errors import LocalRunError

PROG = "hatch-lambda"
EXIT_FAILED = 1  # the handler raised, timed out or crashed
EXIT_UNUSABLE = 2  # bad input: nothing was run (also argparse's usage errors)

_EPILOG = """\
exit status: 0 the handler returned; 1 the handler failed (raised, timed out, crashed, could not be
imported); 2 nothing ran (no build, bad manifest or event, changed artifact, native code this host cannot
load, bad option). `run` exits with the command's own status.
"""


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > local.MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {local.MAX_TIMEOUT:g} seconds "
                                         f"(Lambda's range), not {text!r}")
    return value


def _memory(text: str) -> int:
    if not re.fullmatch(r"\d+", text) or not 128 <= int(text) <= 10240:
        raise argparse.ArgumentTypeError(f"must be whole MB from 128 to 10240 (Lambda's range), not {text!r}")
    return int(text)


def _variable(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"must look like NAME=VALUE, not {text!r}")
    return name, value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=".", metavar="PROJECT_DIR",
                        help="the project that was built (default: the current directory), or its manifest")
    parser.add_argument("--dist", type=Path, metavar="DIR",
                        help="where the build wrote its artifacts (default: the target's `directory`, else dist/)")
    parser.add_argument("--python", metavar="PYTHON",
                        help="the interpreter to run with, a path or a command such as python3.12 "
                             "(default: the one running hatch-lambda)")
    parser.add_argument("--force", action="store_true",
                        help="run even when the build holds native code this host cannot load")
    parser.add_argument("--refresh", action="store_true",
                        help="extract the artifacts again instead of reusing the cached layout")
    parser.add_argument("--env", action="append", type=_variable, default=[], metavar="NAME=VALUE",
                        help="a function environment variable (repeatable)")
    parser.add_argument("--runtime-path", action="append", type=Path, default=[], metavar="DIR",
                        help="a directory searched after the layers, standing in for the runtime's own "
                             "site-packages (e.g. a `pip install --target DIR boto3`); repeatable")
    parser.add_argument("--function-name", metavar="NAME", help="AWS_LAMBDA_FUNCTION_NAME (default: the project name)")
    parser.add_argument("--memory", type=_memory, default=local.DEFAULT_MEMORY, metavar="MB",
                        help=f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default {local.DEFAULT_MEMORY}; not enforced)")
    parser.add_argument("--region", help=f"AWS_REGION (default: $AWS_REGION, else {local.DEFAULT_REGION})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a Lambda handler, or any command, against the artifacts of the last "
                    "`hatch build -t lambda`, laid out as Lambda lays them out (no Docker).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    invoke = commands.add_parser(
        "invoke", help="run the handler once and print its response as JSON",
        description="Run the handler once in a fresh interpreter that sees only the function zip, the layers "
                    "and the stdlib; print the response (or Lambda's error document) as JSON on stdout. "
                    "The handler's own output and the START/END/REPORT lines go to stderr.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(invoke)
    invoke.add_argument("--event", metavar="FILE", help="the event: a JSON file, or - for stdin (default: {})")
    invoke.add_argument("--handler", help="package.module.function (default: the handler the build records)")
    invoke.add_argument("--timeout", type=_timeout, default=local.DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"kill the handler after this long (default {local.DEFAULT_TIMEOUT:g}, Lambda's default)")
    invoke.add_argument("-q", "--quiet", action="store_true", help="no START/END/REPORT lines on stderr")

    run = commands.add_parser(
        "run", help="run a command (pytest, python, a shell) with the layout on its paths",
        usage=f"{PROG} run [options] [PROJECT_DIR] -- COMMAND [ARG ...]",
        description="Run COMMAND with the function zip and the layers on PYTHONPATH (Lambda's order), the "
                    "layers' bin/ first on PATH, lib/ on LD_LIBRARY_PATH and Lambda's environment variables. "
                    "`python`/`python3` as COMMAND means the interpreter running hatch-lambda (or --python).",
    )
    _common(run)

    layout = commands.add_parser("layout", help="extract the artifacts and print the layout's directory")
    _common(layout)
    return parser


def _err(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")
    sys.stderr.flush()


def _read_event(source: str | None) -> str:
    if source is None:
        return "{}"
    label = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except FileNotFoundError:
        raise LocalRunError(f"--event {source}: no such file.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LocalRunError(f"--event {source}: cannot read it ({e}).") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        message = (f"--event {label}: the event is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}). "
                   "Lambda events are JSON documents, e.g. {\"key\": \"value\"}.")
        raise LocalRunError(message) from None
    return text


def _prepare(args: argparse.Namespace) -> tuple[local.Build, local.Layout, local.Interpreter]:
    build = local.find_build(Path(args.project), args.dist)
    return build, *_layout(args, build)


def _layout(args: argparse.Namespace, build: local.Build) -> tuple[local.Layout, local.Interpreter]:
    local.verify_artifacts(build)
    host = local.interpreter(args.python)
    layout = local.ensure_layout(build, refresh=args.refresh)
    assessment = local.assess(layout.info, build.manifest, host)
    for warning in assessment.warnings:
        _warn(warning)
    if assessment.problems:
        error = local.native_error(assessment, build.manifest)
        if not args.force:
            raise error
        _warn(f"--force: running anyway. {error}")
    for directory in args.runtime_path:
        if not directory.is_dir():
            raise LocalRunError(f"--runtime-path {directory}: no such directory.")
    return layout, host


def _settings(args: argparse.Namespace, build: local.Build, handler: str | None) -> local.FunctionSettings:
    return local.FunctionSettings(
        function_name=args.function_name or build.manifest.name,
        handler=handler,
        memory=args.memory,
        region=args.region,
        variables=dict(args.env),
    )


def _invoke(args: argparse.Namespace) -> int:
    build = local.find_build(Path(args.project), args.dist)
    handler = args.handler or build.manifest.handler
    if not handler:
        raise LocalRunError(
            f"The build manifest {build.manifest_path} records no handler (`handler` in "
            "[tool.hatch.build.targets.lambda] is unset). Set it and rebuild, or pass --handler "
            "package.module.function."
        )
    if build.manifest.function is None:
        raise LocalRunError(
            f"The build manifest {build.manifest_path} lists no function zip (a `lambda:layers` build?); "
            "build the function too: `hatch build -t lambda`."
        )
    event = _read_event(args.event)
    layout, host = _layout(args, build)
    result = local.invoke(layout, build.manifest, host, _settings(args, build, handler), event,
                          timeout=args.timeout, extra_paths=[p.resolve() for p in args.runtime_path],
                          quiet=args.quiet)
    if result.raw is not None:
        sys.stdout.flush()
        sys.stdout.buffer.write(result.raw)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(result.output + "\n")
        sys.stdout.flush()
    if not result.ok:
        _err(result.summary or "the handler failed.")
    return result.exit_code


def _run(args: argparse.Namespace, command: list[str]) -> int:
    build, layout, host = _prepare(args)
    settings = _settings(args, build, build.manifest.handler)
    return local.run_command(layout, build.manifest, host, settings, command,
                             [p.resolve() for p in args.runtime_path])


def _show_layout(args: argparse.Namespace) -> int:
    _build, layout, _host = _prepare(args)
    sys.stdout.write(os.fspath(layout.root) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hatch-lambda` console script; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, command = arguments[:split], arguments[split + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if args.command == "run" and not command:
            parser.error("run needs a command after `--`, e.g. hatch-lambda run -- pytest")
        if args.command != "run" and command:
            parser.error(f"`--` only goes with `run`; {args.command} does not take a command")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_UNUSABLE
    try:
        if args.command == "invoke":
            return _invoke(args)
        if args.command == "run":
            return _run(args, command)
        return _show_layout(args)
    except LocalRunError as e:
        _err(str(e))
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        _err("interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
