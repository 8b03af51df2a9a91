"""Test helpers: tiny wheels made at test time, throwaway projects, and in-process builds."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from hatch_lambda.builder import LambdaBuilder

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"


def make_wheel(
    directory: Path,
    name: str,
    version: str = "1.0",
    tag: str = "py3-none-any",
    requires: Iterable[str] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """Writes `<name>-<version>-<tag>.whl` with a module `<name>` recording its own tag, and returns it."""
    dist = name.replace("-", "_")
    files = dict(files or {f"{dist}/__init__.py": f"VERSION = {version!r}\nTAG = {tag!r}\n"})
    info = f"{dist}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    files[f"{info}/METADATA"] = "\n".join(meta) + "\n"
    wheel_tags = [f"Tag: {t}" for t in _expand(tag)]
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: hatch-lambda-tests\nRoot-Is-Purelib: "
    files[f"{info}/WHEEL"] += ("true" if tag.endswith("any") else "false") + "\n" + "\n".join(wheel_tags) + "\n"
    record = []
    for path, text in sorted(files.items()):
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{dist}-{version}-{tag}.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text in sorted(files.items()):
            zf.writestr(path, text)
    out.write_bytes(buf.getvalue())
    return out


def _expand(tag: str) -> list[str]:
    py, abi, plats = tag.split("-")
    return [f"{p}-{a}-{pl}" for p in py.split(".") for a in abi.split(".") for pl in plats.split(".")]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_project(
    root: Path,
    lambda_config: str = "",
    *,
    name: str = "demo-fn",
    version: str = "1.0.0",
    dependencies: Iterable[str] = (),
    extra_pyproject: str = "",
    files: Mapping[str, str] | None = None,
) -> Path:
    """A minimal project: package `demo_fn` with `handler.main`, plus whatever `files` adds."""
    root.mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    pkg = name.replace("-", "_")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{name}"
            version = "{version}"
            dependencies = [{deps}]
            """
        )
        + extra_pyproject
        + "\n[tool.hatch.build.targets.lambda]\n"
        + textwrap.dedent(lambda_config),
        "utf-8",
    )
    defaults = {
        f"{pkg}/__init__.py": "",
        f"{pkg}/handler.py": "def main(event, context):\n    return {'ok': True, 'event': event}\n",
    }
    for path, text in {**defaults, **(files or {})}.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
        if path.startswith(("bin/", "layer_bin/")) or text.startswith("#!"):
            os.chmod(target, 0o755)
    return root


def build(root: Path, versions: list[str] | None = None, directory: Path | None = None) -> list[Path]:
    """Runs the lambda target in-process, as `python -m hatchling build -t lambda` would."""
    builder = LambdaBuilder(str(root))
    out = directory or root / "dist"
    return [Path(p) for p in builder.build(directory=str(out), versions=versions)]


def listing(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return [i.filename for i in zf.infolist() if not i.is_dir()]


def mode_of(zip_path: Path, name: str) -> int:
    with zipfile.ZipFile(zip_path) as zf:
        return (zf.getinfo(name).external_attr >> 16) & 0o7777
