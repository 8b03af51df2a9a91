"""Runs one invocation inside a fresh interpreter laid out like Lambda; imports nothing but the stdlib."""

# This file is executed as a script by `python -I -S -B ... _bootstrap.py`, never imported from the host:
# it must stay importable by every Lambda Python (3.10+) and must not import hatch_lambda or anything
# outside the standard library, or the host's packages would leak into the emulated runtime.
#
# Protocol with the parent (hatch_lambda.local): the spec arrives as one JSON document on stdin; control
# messages leave as JSON lines on the ORIGINAL stdout; fd 1 is then pointed at stderr so whatever the
# handler (or a process it starts) prints lands in the log stream, as on Lambda, and never mixes with
# the response.

from __future__ import annotations

import decimal
import importlib
import io
import json
import logging
import math
import os
import sys
import time
import traceback
from typing import IO, Any

_THIS_FILE = os.path.abspath(__file__)
_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"


class _Fault(Exception):
    """A failure the Lambda runtime reports with its own error type (Runtime.*), not the user's."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class _ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self) -> None:
        self.client = None
        self.custom = None
        self.env = None


class _CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None


class LambdaContext:
    """The attributes and method the Python runtime's context object has (values from the environment)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string on Lambda too: the runtime copies it from the environment unchanged.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context: _ClientContext | None = None
        self.identity = _CognitoIdentity()
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context=None,identity={self.identity}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _setup_logging(request_filter: _RequestIdFilter) -> None:
    # The runtime installs one handler on the root logger (level WARNING unless AWS_LAMBDA_LOG_LEVEL):
    # `logging.getLogger().setLevel(logging.INFO)` in a handler then prints, locally as on Lambda.
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.addHandler(handler)
    level = logging.getLevelName(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    if isinstance(level, int):
        root.setLevel(level)


def _load_handler(handler: str) -> Any:
    """Resolves `pkg.module.function` as the Python runtime does, with the runtime's error types."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _Fault("Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise _Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}", trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _Fault("Runtime.HandlerNotFound", message) from None


def _error(message: str, error_type: str, trace: list[str], request_id: str) -> dict[str, Any]:
    # Key order and fields of the runtime's error response.
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def _user_error(request_id: str) -> dict[str, Any]:
    """An exception from user code: its type, message and the frames below this bootstrap."""
    etype, value, tb = sys.exc_info()
    # Plain tuples, as the runtime formats them: no column markers (`^^^`) under the source lines.
    frames = [(f.filename, f.lineno or 0, f.name, f.line) for f in traceback.extract_tb(tb)]
    # Drop the runtime's own leading frames, as the Lambda runtime does for its bootstrap.
    while frames and os.path.abspath(frames[0][0]) == _THIS_FILE:
        frames.pop(0)
    name = etype.__name__ if etype else "Exception"
    return _error(str(value), name, traceback.format_list(frames), request_id)


def _log_error(error: dict[str, Any]) -> None:
    # The runtime logs a failed invocation as one "[ERROR] Type: message" record plus the traceback.
    lines = ["[ERROR] " + ": ".join(x for x in (error["errorType"], error["errorMessage"]) if x)]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            lines.extend(element.splitlines())
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        # The runtime writes Decimals (what DynamoDB returns) as JSON numbers.
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # From here on fd 1 is the log stream (stderr): prints, logging and child processes all go there.
    os.dup2(2, 1)
    spec = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)

    # Lambda's search order: the function, the layers' site-packages, the layers' python/, then the
    # runtime (here: only the stdlib, since this interpreter runs with -I -S).
    sys.path[:0] = list(spec["paths"])
    sys.argv = [_THIS_FILE]
    request_filter = _RequestIdFilter()
    _setup_logging(request_filter)

    request_id = spec["request_id"]
    try:
        handler = _load_handler(spec["handler"])
    except _Fault as fault:
        error = _error(fault.message, fault.error_type, fault.trace, "")
        _log_error(error)
        _send(channel, {"phase": "init", "error": error})
        return 0
    except Exception:
        error = _user_error("")
        _log_error(error)
        _send(channel, {"phase": "init", "error": error})
        return 0
    _send(channel, {"phase": "init"})

    request_filter.request_id = request_id
    deadline_ms = int(time.time() * 1000) + int(spec["timeout_ms"])
    context = LambdaContext(request_id, deadline_ms, spec["invoked_function_arn"])
    try:
        try:
            event = json.loads(spec["event"])
        except ValueError as e:
            raise _Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from None
        response = handler(event, context)
        if isinstance(response, bytes):
            _send(channel, {"phase": "done", "bytes": response.hex()})
            return 0
        try:
            payload = _Encoder(ensure_ascii=spec["ensure_ascii"]).encode(response)
        except Exception as e:
            raise _Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from None
    except _Fault as fault:
        error = _error(fault.message, fault.error_type, fault.trace, request_id)
        _log_error(error)
        _send(channel, {"phase": "done", "error": error})
        return 0
    except Exception:
        error = _user_error(request_id)
        _log_error(error)
        _send(channel, {"phase": "done", "error": error})
        return 0
    _send(channel, {"phase": "done", "payload": payload})
    return 0


if __name__ == "__main__":
    sys.exit(main())
