"""The build manifest `<name>-<version>-lambda.json`: what was built, in which order, with which hashes."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hatch_lambda.archive import atomic_path

MANIFEST_VERSION = 1

KIND_FUNCTION = "function"
KIND_DEPS = "dependency-layer"
KIND_BINARY = "binary-layer"


def code_sha256(sha256_hex: str) -> str:
    """The base64 SHA-256 that Lambda reports as CodeSha256 and Terraform's filebase64sha256 computes."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


@dataclass(frozen=True)
class Artifact:
    """One zip of the build, as recorded in the manifest."""

    file: str
    kind: str
    name: str
    sha256: str
    size: int
    unzipped_size: int
    fingerprint: str
    status: str  # "built" or "reused"
    changes: tuple[str, ...] = field(default=())

    @property
    def code_sha256(self) -> str:
        return code_sha256(self.sha256)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["code_sha256"] = self.code_sha256
        data["changes"] = list(self.changes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            file=str(data["file"]),
            kind=str(data["kind"]),
            name=str(data["name"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            unzipped_size=int(data["unzipped_size"]),
            fingerprint=str(data["fingerprint"]),
            status=str(data["status"]),
            changes=tuple(data.get("changes", ())),
        )


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    runtime: str
    python_version: str
    architecture: str
    handler: str | None
    function: Artifact | None
    layers: tuple[Artifact, ...]  # in merge order: later layers win on Lambda

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "name": self.name,
            "version": self.version,
            "runtime": self.runtime,
            "python_version": self.python_version,
            "architecture": self.architecture,
            "handler": self.handler,
            "function": self.function.to_json() if self.function else None,
            "layers": [layer.to_json() for layer in self.layers],
        }

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return ((self.function,) if self.function else ()) + self.layers

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        function = data.get("function")
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            runtime=str(data["runtime"]),
            python_version=str(data["python_version"]),
            architecture=str(data["architecture"]),
            handler=data.get("handler"),
            function=Artifact.from_json(function) if function else None,
            layers=tuple(Artifact.from_json(layer) for layer in data.get("layers", [])),
        )


def manifest_name(name: str, version: str) -> str:
    return f"{name}-{version}-lambda.json"


def write(path: Path, manifest: Manifest) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", "utf-8")


def read(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when there is none or it cannot be read."""
    try:
        return Manifest.from_json(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
