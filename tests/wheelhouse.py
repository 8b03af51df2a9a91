"""Wheelhouses made at test time: tagged wheels, pure and platform sdists, lock files in every format."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from helpers import make_wheel

GLIBCS = ("2_17", "2_28", "2_34", "2_35")
ARCHES = ("x86_64", "aarch64")


def offline_pip(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """pip sees only what a test gives it: no user config (extra indexes, find-links), no shared cache."""
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp / "pip-cache"))


def pip_args(wheelhouse: Path) -> str:
    """The `pip-args` config line that points pip at a wheelhouse and nowhere else."""
    return f'pip-args = ["--no-index", "--find-links", "{wheelhouse.as_posix()}"]\n'


def tagged_wheels(directory: Path, name: str = "glibcpkg", version: str = "1.0") -> list[Path]:
    """`name` for every glibc in GLIBCS on both architectures; the module records the tag it was built with."""
    return [make_wheel(directory, name, version, tag=f"py3-none-manylinux_{glibc}_{arch}")
            for glibc in GLIBCS for arch in ARCHES]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_BACKEND = '''\
"""A PEP 517 backend with no requirements: builds one wheel with the tag it is told."""
import base64, hashlib, os, zipfile

NAME, VERSION, TAG = {name!r}, {version!r}, {tag!r}


def _record(files):
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{{path}},sha256={{digest}},{{len(data)}}")
    return rows


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}/__init__.py": f"VERSION = {{VERSION!r}}\\nFROM_SDIST = True\\n".encode(),
        f"{{info}}/METADATA": f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode(),
        f"{{info}}/WHEEL": f"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: {{TAG}}\\n".encode(),
    }}
    files[f"{{info}}/RECORD"] = ("\\n".join(_record(files) + [f"{{info}}/RECORD,,"]) + "\\n").encode()
    filename = f"{{NAME}}-{{VERSION}}-{{TAG}}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return filename
'''


def make_sdist(directory: Path, name: str, version: str = "1.0", tag: str = "py3-none-any") -> Path:
    """`<name>-<version>.tar.gz` whose in-tree backend (no build requirements: offline) builds a `tag` wheel."""
    root = f"{name}-{version}"
    files = {
        f"{root}/pyproject.toml": textwrap.dedent(
            """\
            [build-system]
            requires = []
            build-backend = "backend"
            backend-path = ["."]
            """
        ),
        f"{root}/backend.py": _BACKEND.format(name=name, version=version, tag=tag),
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{root}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    out.write_bytes(buf.getvalue())
    return out


def record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# --- lock files written from (name, version, wheel path, dependencies) ---------------------------------------

Pin = tuple[str, str, Path, Sequence[str]]


def write_pylock(root: Path, pins: Iterable[Pin]) -> Path:
    parts = ['lock-version = "1.0"\ncreated-by = "hatch-lambda-tests"\n']
    for name, version, wheel, _ in pins:
        parts.append(textwrap.dedent(
            f"""
            [[packages]]
            name = "{name}"
            version = "{version}"

            [[packages.wheels]]
            name = "{wheel.name}"
            url = "https://example.invalid/{wheel.name}"
            hashes = {{ sha256 = "{sha256(wheel)}" }}
            """
        ))
    path = root / "pylock.toml"
    path.write_text("".join(parts), "utf-8")
    return path


def write_uv_lock(root: Path, project: str, roots: Sequence[str], pins: Iterable[Pin],
                  extra_packages: str = "") -> Path:
    deps = ", ".join(f'{{ name = "{r}" }}' for r in roots)
    parts = [textwrap.dedent(
        f"""\
        version = 1
        revision = 3
        requires-python = ">=3.10"

        [[package]]
        name = "{project}"
        version = "1.0.0"
        source = {{ editable = "." }}
        dependencies = [{deps}]
        """
    )]
    for name, version, wheel, requires in pins:
        dep_list = ", ".join(f'{{ name = "{d}" }}' for d in requires)
        parts.append(textwrap.dedent(
            f"""
            [[package]]
            name = "{name}"
            version = "{version}"
            source = {{ registry = "https://pypi.org/simple" }}
            dependencies = [{dep_list}]
            wheels = [{{ url = "https://example.invalid/{wheel.name}", hash = "sha256:{sha256(wheel)}" }}]
            """
        ))
    path = root / "uv.lock"
    path.write_text("".join(parts) + extra_packages, "utf-8")
    return path


def write_poetry_lock(root: Path, pins: Iterable[Pin], extra_packages: str = "") -> Path:
    parts: list[str] = ["# This file is automatically @generated by Poetry 2.1.3 and should not be changed by hand.\n"]
    for name, version, wheel, requires in pins:
        parts.append(textwrap.dedent(
            f"""
            [[package]]
            name = "{name}"
            version = "{version}"
            description = ""
            optional = false
            python-versions = ">=3.8"
            groups = ["main"]
            files = [
                {{file = "{wheel.name}", hash = "sha256:{sha256(wheel)}"}},
            ]
            """
        ))
        if requires:
            parts.append("\n[package.dependencies]\n" + "".join(f'{d} = "*"\n' for d in requires))
    parts.append(extra_packages)
    parts.append('\n[metadata]\nlock-version = "2.1"\npython-versions = ">=3.10"\ncontent-hash = "0"\n')
    path = root / "poetry.lock"
    path.write_text("".join(parts), "utf-8")
    return path


def write_requirements(root: Path, pins: Iterable[Pin], name: str = "requirements.txt") -> Path:
    lines = [f"{n}=={v} \\\n    --hash=sha256:{sha256(w)}\n" for n, v, w, _ in pins]
    path = root / name
    path.write_text("# generated for a test\n" + "".join(lines), "utf-8")
    return path


def write_lock(kind: str, root: Path, project: str, roots: Sequence[str], pins: Sequence[Pin]) -> Path:
    if kind == "pylock":
        return write_pylock(root, pins)
    if kind == "uv":
        return write_uv_lock(root, project, roots, pins)
    if kind == "poetry":
        return write_poetry_lock(root, pins)
    return write_requirements(root, pins)


def dist_tags(layer: Mapping[str, bytes]) -> dict[str, list[str]]:
    """dist-info directory -> the `Tag:` lines of its WHEEL file, from a layer's {path: bytes}."""
    found: dict[str, list[str]] = {}
    for path, data in layer.items():
        if path.endswith(".dist-info/WHEEL"):
            lines = data.decode().splitlines()
            found[path.split("/")[-2]] = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
    return found
