"""Smoke test of the in-process build used by most tests."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import build, listing, make_project, mode_of


def test_function_and_binary_layer(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        """
        handler = "demo_fn.handler.main"
        [[tool.hatch.build.targets.lambda.layers]]
        paths = ["bin"]
        """,
        files={"bin/tool": "#!/bin/sh\necho hi\n"},
    )
    build(root)
    dist = root / "dist"
    manifest = json.loads((dist / "demo_fn-1.0.0-lambda.json").read_text())
    assert [layer["name"] for layer in manifest["layers"]] == ["bin"]
    assert listing(dist / "demo_fn-1.0.0-function.zip") == ["demo_fn/__init__.py", "demo_fn/handler.py"]
    layer = dist / manifest["layers"][0]["file"]
    assert listing(layer) == ["bin/tool"]
    assert mode_of(layer, "bin/tool") == 0o755
