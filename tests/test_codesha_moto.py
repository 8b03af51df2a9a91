"""The manifest's code_sha256 is what the Lambda API reports as CodeSha256 (moto in server mode, on loopback)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import build, make_project

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

ROLE_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A moto server on 127.0.0.1 and the client settings to reach it with fake credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    finally:
        server.stop()


def test_code_sha256_matches_lambda(tmp_path: Path, aws: dict[str, Any]) -> None:
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
    layer = manifest["layers"][0]
    function = manifest["function"]

    lam = boto3.client("lambda", **aws)
    iam = boto3.client("iam", **aws)
    role = iam.create_role(RoleName="demo-fn", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]

    published = lam.publish_layer_version(
        LayerName="demo-fn-bin",
        Content={"ZipFile": (dist / layer["file"]).read_bytes()},
        CompatibleRuntimes=[manifest["runtime"]],
        CompatibleArchitectures=[manifest["architecture"]],
    )
    assert published["Content"]["CodeSha256"] == layer["code_sha256"]
    assert published["Content"]["CodeSize"] == layer["size"]

    created = lam.create_function(
        FunctionName="demo-fn",
        Runtime=manifest["runtime"],
        Role=role,
        Handler=manifest["handler"],
        Code={"ZipFile": (dist / function["file"]).read_bytes()},
        Layers=[published["LayerVersionArn"]],
        Architectures=[manifest["architecture"]],
    )
    assert created["CodeSha256"] == function["code_sha256"]
    assert created["CodeSize"] == function["size"]
    fetched = lam.get_function(FunctionName="demo-fn")["Configuration"]
    assert fetched["CodeSha256"] == function["code_sha256"]
    assert [x["Arn"] for x in fetched["Layers"]] == [published["LayerVersionArn"]]
