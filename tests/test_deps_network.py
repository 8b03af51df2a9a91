"""Against the real package index: web_deps for python3.12 arm64, built on this x86_64 host, gets aarch64 wheels."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from hatch_lambda.runtimes import Target
from helpers import SAMPLES, build

EM_AARCH64 = 183  # ELF e_machine of AArch64


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return int.from_bytes(data[18:20], "little")


@pytest.mark.network
def test_web_deps_arm64_layer_holds_aarch64_pydantic_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the real index: no local wheel folders or mirrors from this machine's pip configuration.
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    root = tmp_path / "web_deps"
    shutil.copytree(SAMPLES / "web_deps", root, ignore=shutil.ignore_patterns("dist"))
    build(root)

    manifest = json.loads((root / "dist" / "web_deps-0.1.0-lambda.json").read_text())
    assert (manifest["runtime"], manifest["architecture"]) == ("python3.12", "arm64")
    (entry,) = [a for a in manifest["layers"] if a["kind"] == "dependency-layer"]
    with zipfile.ZipFile(root / "dist" / entry["file"]) as zf:
        files = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}

    target = Target.of("python3.12", "arm64")
    wheels = {p.split("/")[1]: d.decode() for p, d in files.items() if p.endswith(".dist-info/WHEEL")}
    core = [tags for name, tags in wheels.items() if name.startswith("pydantic_core-")]
    assert len(core) == 1
    core_tags = [t for line in core[0].splitlines() if line.startswith("Tag:")
                 for t in parse_tag(line.split(":", 1)[1].strip())]
    assert core_tags and all(t.platform.endswith("_aarch64") and t.interpreter == "cp312" for t in core_tags)
    assert target.accepts(core_tags)
    # Every wheel in the layer loads on the target; none is for the build host's x86_64.
    for name, text in wheels.items():
        tags = [t for line in text.splitlines() if line.startswith("Tag:")
                for t in parse_tag(line.split(":", 1)[1].strip())]
        assert target.accepts(tags), name
        assert not any("x86_64" in t.platform for t in tags), name
    # The extension module itself is an AArch64 ELF.
    (so,) = [p for p in files if p.startswith("python/pydantic_core/_pydantic_core.") and p.endswith(".so")]
    assert so.endswith(".cpython-312-aarch64-linux-gnu.so")
    assert _elf_machine(files[so]) == EM_AARCH64
    assert "python/requests/__init__.py" in files
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in files)
