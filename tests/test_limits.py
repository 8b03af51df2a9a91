"""Lambda's limits as pure checks: layer count, 250 MB unzipped, 50 MB direct upload, overlaps, handler."""

from __future__ import annotations

import pytest

from hatch_lambda import limits
from hatch_lambda.errors import HandlerError, LimitError
from hatch_lambda.limits import Sized

MB = 1024 * 1024


def test_within_limits() -> None:
    assert limits.check_sizes(Sized("f.zip", 1000, 2000), [Sized("l.zip", 10 * MB, 200 * MB)]) == []


def test_unzipped_total_over_250_mb() -> None:
    with pytest.raises(LimitError) as info:
        limits.check_sizes(Sized("f.zip", 1, 2 * MB), [Sized("deps.zip", 90 * MB, 249 * MB)])
    assert str(info.value).startswith(
        "The function and its layers unzip to 263,192,576 bytes, over Lambda's limit of 262,144,000 bytes (250 MB) "
        "for a function and all its layers (deps.zip 261,095,424, f.zip 2,097,152)."
    )


def test_exactly_at_the_limit_is_fine() -> None:
    assert limits.check_sizes(Sized("f.zip", 1, 1000), [Sized("l.zip", 1, limits.MAX_UNZIPPED_BYTES - 1000)]) == []


def test_more_than_five_layers() -> None:
    layers = [Sized(f"l{i}.zip", 1, 1) for i in range(6)]
    with pytest.raises(LimitError) as info:
        limits.check_sizes(None, layers)
    assert str(info.value) == (
        "The build has 6 layers (l0.zip, l1.zip, l2.zip, l3.zip, l4.zip, l5.zip); Lambda allows at most 5 per "
        "function. Merge binary layers or remove one (`tool.hatch.build.targets.lambda.layers`)."
    )


def test_direct_upload_warning() -> None:
    warnings = limits.check_sizes(Sized("f.zip", 51 * MB, 60 * MB), [])
    assert warnings == [
        "f.zip is 53,477,376 bytes zipped, over the 52,428,800 bytes Lambda accepts in a direct upload; "
        "upload it through S3."
    ]


def test_overlap_warning_names_the_winner() -> None:
    warnings = limits.check_overlaps({"deps": ["python/a.py", "bin/tool"], "tools": ["bin/tool", "bin/other"]})
    assert warnings == ["Layers 'deps' and 'tools' both ship bin/tool; on Lambda the later layer ('tools') wins."]


def test_no_overlap() -> None:
    assert limits.check_overlaps({"a": ["bin/x"], "b": ["bin/y"]}) == []


SRC = {
    "app/__init__.py": b"",
    "app/main.py": b"import json\n\ndef handler(event, context):\n    return event\n",
    "app/alias.py": b"from app.main import handler as entry\nother = entry\n",
    "app/pkg/__init__.py": b"async def run(e, c):\n    return 1\n",
    "app/broken.py": b"def handler(:\n",
}


@pytest.mark.parametrize("handler", ["app.main.handler", "app.alias.entry", "app.alias.other", "app.pkg.run"])
def test_handler_found(handler: str) -> None:
    limits.check_handler(handler, SRC)


def test_handler_module_missing() -> None:
    with pytest.raises(HandlerError) as info:
        limits.check_handler("app.missing.handler", SRC, "/p/pyproject.toml")
    assert str(info.value) == (
        "/p/pyproject.toml: Field `tool.hatch.build.targets.lambda.handler` is 'app.missing.handler', but the "
        "function zip has no module 'app.missing' (looked for app/missing.py or app/missing/__init__.py; the zip "
        "holds app/__init__.py, app/alias.py, app/broken.py, app/main.py, app/pkg/__init__.py). Fix the handler or "
        "the file selection (`packages`, `only-include`, `sources`)."
    )


def test_handler_function_missing() -> None:
    with pytest.raises(HandlerError) as info:
        limits.check_handler("app.main.lambda_handler", SRC, "/p/pyproject.toml")
    assert str(info.value) == (
        "/p/pyproject.toml: Field `tool.hatch.build.targets.lambda.handler` is 'app.main.lambda_handler', but "
        "app/main.py in the function zip does not define 'lambda_handler' at module level."
    )


def test_handler_module_does_not_parse() -> None:
    with pytest.raises(HandlerError, match=r"app/broken.py does not parse"):
        limits.check_handler("app.broken.handler", SRC)


@pytest.mark.parametrize(
    "module",
    [
        b"try:\n    from fast import handler\nexcept ImportError:\n    def handler(e, c):\n        return 1\n",
        b"with open(__file__):\n    handler = lambda e, c: 1\n",
        b"from app.impl import *\n",
    ],
)
def test_handler_bound_in_module_level_blocks(module: bytes) -> None:
    limits.check_handler("app.entry.handler", {"app/entry.py": module})


def test_handler_inside_a_function_does_not_count() -> None:
    with pytest.raises(HandlerError, match=r"does not define 'handler' at module level"):
        source = b"def setup():\n    def handler(e, c):\n        pass\n"
        limits.check_handler("app.entry.handler", {"app/entry.py": source})
