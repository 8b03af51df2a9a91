"""Lays the built artifacts out like Lambda (task/ and opt/) and runs a handler or any command against them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, TextIO

from hatch_lambda.errors import LocalRunError
from hatch_lambda.manifest import MANIFEST_VERSION, Artifact, Manifest

LAYOUTS_ENV = "HATCH_LAMBDA_LAYOUTS"
# Bumped when the extracted tree or layout.json changes shape; part of every layout key.
LAYOUT_FORMAT = 1
DEFAULT_TIMEOUT = 3.0  # Lambda's default function timeout, in seconds
MAX_TIMEOUT = 900.0  # Lambda's maximum
INIT_LIMIT = 10.0  # Lambda's limit for the init phase (imports) of an on-demand function
DEFAULT_MEMORY = 128
DEFAULT_REGION = "us-east-1"
FUNCTION_VERSION = "$LATEST"
_ACCOUNT = "123456789012"  # the placeholder account id AWS uses in its own examples
_STALE_SECONDS = 3600  # temp trees older than this were left by a killed run
_MAX_LISTED = 8
BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")

# ELF e_machine values -> the machine names of wheel tags and `uname -m`.
_ELF_MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm", 62: "x86_64",
                 183: "aarch64", 243: "riscv64"}
_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_EXTENSION_RE = re.compile(r"\.cpython-(\d)(\d+)[-.]")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_SIGNAL_TEXT = {"SIGKILL": "killed", "SIGSEGV": "segmentation fault", "SIGABRT": "aborted",
                "SIGTERM": "terminated", "SIGBUS": "bus error"}


# --- the build: manifest and artifacts ------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    """The last build of a project: its manifest, read and checked."""

    manifest_path: Path
    manifest: Manifest

    @property
    def dist(self) -> Path:
        return self.manifest_path.parent

    def path_of(self, artifact: Artifact) -> Path:
        return self.dist / artifact.file


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # hatchling depends on tomli before 3.11
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def configured_dist(project: Path) -> Path:
    """Where `hatch build -t lambda` writes: the target's or [tool.hatch.build]'s `directory`, else dist/."""
    build_table = _read_toml(project / "pyproject.toml").get("tool", {}).get("hatch", {}).get("build", {})
    if isinstance(build_table, dict):
        target = build_table.get("targets", {}).get("lambda", {})
        for table in (target, build_table):
            directory = table.get("directory") if isinstance(table, dict) else None
            if isinstance(directory, str) and directory.strip():
                return project / directory
    return project / "dist"


def find_build(target: Path, dist: Path | None = None) -> Build:
    """The manifest of the last build of the project at `target` (or `target` itself if it is a manifest)."""
    target = target.absolute()  # messages name real places, and nothing depends on the cwd later
    if target.is_file() and target.name.endswith("-lambda.json"):
        return Build(target, load_manifest(target))
    if not target.is_dir():
        raise LocalRunError(f"{target} is not a project directory (it does not exist or is not a directory).")
    out = dist.absolute() if dist is not None else configured_dist(target)
    build_hint = f"Build first: run `hatch build -t lambda` in {target}."
    if not out.is_dir():
        raise LocalRunError(f"No build yet: {out} does not exist. {build_hint}")
    candidates = [p for p in out.glob("*-lambda.json") if p.is_file()]
    if not candidates:
        raise LocalRunError(f"No build yet: {out} holds no build manifest (*-lambda.json). {build_hint}")
    # Several manifests (older versions of the project): the newest one is the last build.
    newest = max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))
    return Build(newest, load_manifest(newest))


def load_manifest(path: Path) -> Manifest:
    """Parses a build manifest, naming the file and the field when something is wrong."""
    rebuild = "Rebuild with `hatch build -t lambda`."
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LocalRunError(f"Cannot read the build manifest {path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        message = (f"The build manifest {path} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}). "
                   + rebuild)
        raise LocalRunError(message) from None
    if not isinstance(data, dict):
        raise LocalRunError(f"The build manifest {path} must hold a JSON object, not {type(data).__name__}. {rebuild}")
    version = data.get("manifest_version")
    if version != MANIFEST_VERSION:
        message = (
            f"The build manifest {path} has manifest_version {version!r}; this hatch-lambda reads version "
            f"{MANIFEST_VERSION}. {rebuild}"
        )
        raise LocalRunError(message)
    try:
        manifest = Manifest.from_json(data)
    except KeyError as e:
        raise LocalRunError(f"The build manifest {path} lacks the field {e.args[0]!r}. {rebuild}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise LocalRunError(f"The build manifest {path} has a malformed field ({e}). {rebuild}") from None
    if not re.fullmatch(r"\d+\.\d+", manifest.python_version):
        message = f"The build manifest {path} has python_version {manifest.python_version!r}, not `X.Y`. {rebuild}"
        raise LocalRunError(message)
    for artifact in manifest.artifacts:
        # The manifest names files beside it; anything else would read outside the build.
        if PurePosixPath(artifact.file).name != artifact.file or artifact.file in ("", ".", ".."):
            message = f"The build manifest {path} names the artifact {artifact.file!r}, not a file name beside it."
            raise LocalRunError(message)
        if not re.fullmatch(r"[0-9a-f]{64}", artifact.sha256):
            message = f"The build manifest {path} records sha256 {artifact.sha256!r} for {artifact.file}: not hex."
            raise LocalRunError(message)
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_artifacts(build: Build) -> None:
    """Every artifact the manifest lists is present and byte-identical to what the build wrote."""
    for artifact in build.manifest.artifacts:
        path = build.path_of(artifact)
        what = "function zip" if artifact.kind == "function" else f"layer {artifact.name!r}"
        if not path.is_file():
            message = (
                f"The build manifest {build.manifest_path} lists {artifact.file} ({what}), which is missing from "
                f"{build.dist}. Rebuild with `hatch build -t lambda`."
            )
            raise LocalRunError(message)
        actual = file_sha256(path)
        if actual != artifact.sha256:
            message = (
                f"{path} ({what}) changed after the build: its sha256 is {actual}, but the build manifest "
                f"{build.manifest_path} records {artifact.sha256}. Rebuild with `hatch build -t lambda` so that "
                "what runs here is what you deploy."
            )
            raise LocalRunError(message)


# --- the extracted layout -------------------------------------------------------------------------

@dataclass(frozen=True)
class NativeFile:
    """A compiled file in the layout, and what it was compiled for."""

    path: str  # relative to the layout, e.g. "opt/python/pkg/_ext.cpython-312-x86_64-linux-gnu.so"
    format: str  # "elf", "mach-o" or "pe"
    machine: str | None  # for ELF: x86_64, aarch64, ...
    python: str | None  # "3.12" for a `.cpython-312-...` extension module


@dataclass(frozen=True)
class BinaryWheel:
    """An installed distribution whose WHEEL file has no pure (`-any`) tag."""

    path: str  # the .dist-info directory, relative to the layout
    tags: tuple[str, ...]


@dataclass(frozen=True)
class LayoutInfo:
    """Facts about the extracted tree, gathered once when it is extracted."""

    native: tuple[NativeFile, ...] = ()
    wheels: tuple[BinaryWheel, ...] = ()
    unreadable: tuple[str, ...] = ()  # entries Lambda's non-root user could not read

    def to_json(self) -> dict[str, Any]:
        return {"format": LAYOUT_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayoutInfo:
        return cls(
            native=tuple(NativeFile(**n) for n in data["native"]),
            wheels=tuple(BinaryWheel(w["path"], tuple(w["tags"])) for w in data["wheels"]),
            unreadable=tuple(data["unreadable"]),
        )


@dataclass(frozen=True)
class Layout:
    """An extracted build: `task/` is /var/task, `opt/` is /opt."""

    root: Path
    python_version: str  # the runtime's X.Y: where Lambda looks for a layer's site-packages
    info: LayoutInfo = field(default_factory=LayoutInfo)

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def pycache(self) -> Path:
        # Bytecode goes beside the tree, never into it: the tree stays what the zips hold.
        return self.root / "pycache"

    @property
    def site_packages(self) -> Path:
        return self.opt / "python" / "lib" / f"python{self.python_version}" / "site-packages"

    @property
    def python_path(self) -> list[Path]:
        """Lambda's search order ahead of the runtime's own directories."""
        return [self.task, self.site_packages, self.opt / "python"]

    @property
    def bin_dir(self) -> Path:
        return self.opt / "bin"

    @property
    def library_path(self) -> list[Path]:
        return [self.task, self.task / "lib", self.opt / "lib"]


def default_layouts_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$HATCH_LAMBDA_LAYOUTS, else `hatch-lambda/layouts` in the user's cache directory."""
    env = os.environ if environ is None else environ
    if env.get(LAYOUTS_ENV):
        return Path(env[LAYOUTS_ENV]).expanduser()
    from hatch_lambda.store import user_cache_dir

    return user_cache_dir(env) / "layouts"


def layout_key(manifest: Manifest) -> str:
    """The sha256 of the ordered artifact hashes: same zips in the same order, same layout."""
    lines = [f"hatch-lambda layout v{LAYOUT_FORMAT}"]
    if manifest.function is not None:
        lines.append(f"task {manifest.function.sha256}")
    lines += [f"opt {layer.sha256}" for layer in manifest.layers]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def ensure_layout(build: Build, root: Path | None = None, refresh: bool = False) -> Layout:
    """Extracts the build once per set of artifacts; later calls reuse the tree.

    The tree is extracted into a temp directory beside its final name and renamed into place only when
    complete (layout.json last), so a killed run never leaves a half tree under a name that is reused.
    """
    manifest = build.manifest
    # Absolute: the handler runs with task/ as its working directory and these paths on sys.path.
    layouts = (root if root is not None else default_layouts_dir()).absolute()
    final = layouts / layout_key(manifest)
    try:
        layouts.mkdir(parents=True, exist_ok=True)
        _remove_stale(layouts)
        if refresh or (final.exists() and not (final / "layout.json").is_file()):
            _discard(final, layouts)
        if not final.exists():
            _extract_layout(build, layouts, final)
        info = LayoutInfo.from_json(json.loads((final / "layout.json").read_text("utf-8")))
    except OSError as e:
        raise LocalRunError(f"Cannot prepare the local layout under {layouts} (${LAYOUTS_ENV} moves it): {e}") from None
    except (ValueError, KeyError, TypeError):
        # A layout.json we did not write: extract again rather than trust the tree.
        _discard(final, layouts)
        _extract_layout(build, layouts, final)
        info = LayoutInfo.from_json(json.loads((final / "layout.json").read_text("utf-8")))
    return Layout(final, manifest.python_version, info)


def _extract_layout(build: Build, layouts: Path, final: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name[:12]}-", dir=layouts))
    try:
        task, opt = tmp / "task", tmp / "opt"
        for directory in (task, opt, tmp / "runtime", tmp / "pycache"):
            directory.mkdir()
        if build.manifest.function is not None:
            extract_zip(build.path_of(build.manifest.function), task)
        # Merge order: a later layer's file replaces an earlier one's, as Lambda merges /opt.
        for layer in build.manifest.layers:
            extract_zip(build.path_of(layer), opt)
        info = scan(tmp)
        (tmp / "layout.json").write_text(json.dumps(info.to_json(), indent=1) + "\n", "utf-8")
        os.chmod(tmp, 0o755)  # noqa: S103 - mkdtemp makes it 0700; the tree is as readable as the zips
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "layout.json").is_file():
                raise
            # Another run extracted the same artifacts meanwhile: same bytes, keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _discard(path: Path, layouts: Path) -> None:
    if not path.exists():
        return
    # Rename first: a tree being deleted is never mistaken for a usable one.
    trash = Path(tempfile.mkdtemp(prefix=".old-", dir=layouts))
    os.rename(path, trash / "tree")
    shutil.rmtree(trash, ignore_errors=True)


def _remove_stale(layouts: Path) -> None:
    cutoff = time.time() - _STALE_SECONDS
    for entry in layouts.iterdir():
        if entry.name.startswith((".tmp-", ".old-")):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)


def extract_zip(zip_path: Path, destination: Path) -> None:
    """Extracts like Lambda: modes from the zip (zipfile drops them), existing files replaced."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            directories: list[tuple[Path, int]] = []
            for info in zf.infolist():
                parts = PurePosixPath(info.filename).parts
                if (not parts or info.filename.startswith("/") or "\\" in info.filename
                        or any(p in ("..", "") for p in parts) or ":" in parts[0]):
                    raise LocalRunError(f"{zip_path} holds the entry {info.filename!r}, which points outside the "
                                        "directory it extracts into; Lambda would reject it too.")
                target = destination.joinpath(*parts)
                mode = info.external_attr >> 16
                permissions = stat.S_IMODE(mode)
                if info.is_dir():
                    if target.is_symlink() or (target.exists() and not target.is_dir()):
                        target.unlink()
                    target.mkdir(parents=True, exist_ok=True)
                    directories.append((target, permissions or 0o755))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _clear(target)
                if stat.S_ISLNK(mode):
                    os.symlink(zf.read(info).decode("utf-8"), target)
                    continue
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                os.chmod(target, permissions or 0o644)
            for directory, permissions in reversed(directories):
                # Owner rwx always: a later layer must be able to write into the same directory.
                os.chmod(directory, permissions | stat.S_IRWXU)
    except zipfile.BadZipFile as e:
        raise LocalRunError(f"{zip_path} is not a readable zip ({e}). Rebuild with `hatch build -t lambda`.") from None


def _clear(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)


def scan(root: Path) -> LayoutInfo:
    """Finds compiled code (by file header, not name), binary wheels and entries Lambda could not read."""
    native: list[NativeFile] = []
    wheels: list[BinaryWheel] = []
    unreadable: list[str] = []
    for top in ("task", "opt"):
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            here = Path(dirpath)
            rel_dir = here.relative_to(root).as_posix()
            if not here.stat().st_mode & stat.S_IROTH or not here.stat().st_mode & stat.S_IXOTH:
                unreadable.append(rel_dir + "/")
            for name in sorted(filenames):
                path = here / name
                st = path.lstat()
                if not stat.S_ISREG(st.st_mode):
                    continue
                rel = f"{rel_dir}/{name}"
                if not st.st_mode & stat.S_IROTH:
                    unreadable.append(rel)
                found = _native(path, rel)
                if found:
                    native.append(found)
                if name == "WHEEL" and here.name.endswith(".dist-info"):
                    tags = _wheel_tags(path)
                    if tags and not any(t.endswith("-any") for t in tags):
                        wheels.append(BinaryWheel(rel_dir, tags))
    return LayoutInfo(tuple(native), tuple(wheels), tuple(unreadable))


def _native(path: Path, rel: str) -> NativeFile | None:
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    python = None
    match = _EXTENSION_RE.search(path.name)
    if match:
        python = f"{match.group(1)}.{match.group(2)}"
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        code = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
        return NativeFile(rel, "elf", _ELF_MACHINES.get(code, f"machine {code}"), python)
    suffix = path.suffix.lower()
    if head[:4] in _MACHO_MAGICS or (head[:4] == b"\xca\xfe\xba\xbe" and suffix in (".so", ".dylib")):
        return NativeFile(rel, "mach-o", None, python)
    if head[:2] == b"MZ" and suffix in (".pyd", ".dll", ".exe"):
        return NativeFile(rel, "pe", None, python)
    return None


def _wheel_tags(path: Path) -> tuple[str, ...]:
    tags: list[str] = []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in path.read_text("utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "tag" and value.strip():
                py, _, rest = value.strip().partition("-")
                abi, _, plats = rest.partition("-")
                # A compressed tag set (`cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64`) is several tags.
                tags += [f"{p}-{a}-{pl}" for p in py.split(".") for a in abi.split(".") for pl in plats.split(".")]
    return tuple(tags)


# --- what this host can run -----------------------------------------------------------------------

@dataclass(frozen=True)
class Interpreter:
    """The Python that runs the handler locally, and the host it runs on."""

    executable: str
    version: tuple[int, int]
    full_version: str
    implementation: str  # sys.implementation.name
    system: str  # platform.system(): Linux, Darwin, Windows
    machine: str  # normalised like wheel tags: x86_64, aarch64
    glibc: tuple[int, int] | None

    def describe(self) -> str:
        libc = f", glibc {self.glibc[0]}.{self.glibc[1]}" if self.glibc else ""
        name = "CPython" if self.implementation == "cpython" else self.implementation
        return f"{name} {self.full_version} on {self.system} {self.machine}{libc}"


def _probe() -> dict[str, Any]:
    return {
        "executable": sys.executable, "version": list(sys.version_info[:2]),
        "full_version": platform.python_version(), "implementation": sys.implementation.name,
        "system": platform.system(), "machine": platform.machine(), "libc": list(platform.libc_ver()),
    }


# The same facts from another interpreter, run with -I -S so that nothing but its stdlib is involved.
_PROBE = (
    "import json, platform, sys\n"
    "print(json.dumps({'executable': sys.executable, 'version': list(sys.version_info[:2]),\n"
    "  'full_version': platform.python_version(), 'implementation': sys.implementation.name,\n"
    "  'system': platform.system(), 'machine': platform.machine(), 'libc': list(platform.libc_ver())}))\n"
)


def _interpreter_from(data: dict[str, Any]) -> Interpreter:
    libc_name, libc_version = data["libc"]
    match = re.match(r"(\d+)\.(\d+)", libc_version)
    glibc = (int(match.group(1)), int(match.group(2))) if libc_name == "glibc" and match else None
    machine = str(data["machine"]).lower()
    return Interpreter(
        executable=str(data["executable"]),
        version=(int(data["version"][0]), int(data["version"][1])),
        full_version=str(data["full_version"]),
        implementation=str(data["implementation"]),
        system=str(data["system"]),
        machine=_MACHINE_ALIASES.get(machine, machine),
        glibc=glibc,
    )


def interpreter(python: str | None = None) -> Interpreter:
    """This interpreter, or the one named by `--python` (a path or a command on PATH), probed in isolation."""
    if python is None:
        return _interpreter_from(_probe())
    found = shutil.which(python) or (python if Path(python).is_file() else None)
    if found is None:
        raise LocalRunError(f"--python {python}: no such interpreter (not a file, not a command on PATH).")
    try:
        proc = subprocess.run([found, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60,
                              check=False)
        if proc.returncode != 0:
            raise LocalRunError(f"--python {python}: {found} failed to start: {proc.stderr.strip()[-500:]}")
        return _interpreter_from(json.loads(proc.stdout))
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        raise LocalRunError(f"--python {python}: {found} is not a usable Python interpreter ({e}).") from None


@dataclass(frozen=True)
class Assessment:
    """What to tell the user before running: native code this host cannot load, and softer differences."""

    problems: tuple[str, ...] = ()  # native code that cannot load here: an error unless --force
    warnings: tuple[str, ...] = ()


def _tag_loads(tag: str, host: Interpreter) -> bool:  # noqa: PLR0911 - one early answer per tag part
    try:
        py, abi, plat = tag.split("-")
    except ValueError:
        return False
    if abi.startswith("cp") and abi != "cp":
        digits = re.match(r"cp(\d)(\d+)", abi)
        if host.implementation != "cpython" or not digits:
            return False
        if (int(digits.group(1)), int(digits.group(2))) != host.version:
            return False
    elif abi == "abi3":
        digits = re.match(r"cp(\d)(\d+)", py)
        if host.implementation != "cpython" or not digits:
            return False
        if host.version < (int(digits.group(1)), int(digits.group(2))):
            return False
    elif abi != "none":
        return False
    if plat == "any":
        return True
    if host.system != "Linux":
        return False
    manylinux = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", plat)
    if manylinux:
        needed, arch = (int(manylinux.group(1)), int(manylinux.group(2))), manylinux.group(3)
        return arch == host.machine and host.glibc is not None and host.glibc >= needed
    legacy, _, arch = plat.partition("_")
    if legacy in _LEGACY_MANYLINUX:
        return arch == host.machine and host.glibc is not None and host.glibc >= _LEGACY_MANYLINUX[legacy]
    return plat == f"linux_{host.machine}"


def _native_findings(native: NativeFile, manifest: Manifest, host: Interpreter) -> tuple[str | None, str | None]:
    """(why this host cannot load it, why Lambda cannot load it): either may be None."""
    target_machine = _wheel_machine(manifest.architecture)
    host_python = f"{host.version[0]}.{host.version[1]}"
    if native.format != "elf":
        kind = "macOS (Mach-O)" if native.format == "mach-o" else "Windows (PE)"
        own = {"mach-o": "Darwin", "pe": "Windows"}[native.format]
        return (None if host.system == own else f"a {kind} binary"), f"a {kind} binary"
    on_lambda = None
    if native.machine != target_machine:
        on_lambda = f"an ELF binary for {native.machine}, but the build targets {manifest.architecture}"
    elif native.python and native.python != manifest.python_version:
        on_lambda = f"an extension module for Python {native.python}, but the build targets {manifest.runtime}"
    here = None
    if host.system != "Linux":
        here = f"a Linux (ELF) binary; this host runs {host.system}"
    elif native.machine != host.machine:
        here = f"an ELF binary for {native.machine}; this host is {host.machine}"
    elif native.python and native.python != host_python:
        here = f"an extension module for Python {native.python}; this interpreter is {host_python}"
    return here, on_lambda


def assess(info: LayoutInfo, manifest: Manifest, host: Interpreter) -> Assessment:
    """Compares the layout's native code and target Python with the local interpreter and host."""
    problems: list[str] = []
    warnings: list[str] = []
    for wheel in info.wheels:
        if not any(_tag_loads(tag, host) for tag in wheel.tags):
            more = ", ..." if len(wheel.tags) > 3 else ""
            problems.append(f"{wheel.path}: a binary wheel tagged {', '.join(wheel.tags[:3])}{more}")
    for native in info.native:
        here, on_lambda = _native_findings(native, manifest, host)
        if here:
            problems.append(f"{native.path}: {here}" + ("; Lambda cannot load it either" if on_lambda else ""))
        elif on_lambda:
            warnings.append(f"{native.path} loads here but not on Lambda: {on_lambda}.")
    host_python = f"{host.version[0]}.{host.version[1]}"
    if manifest.python_version != host_python:
        warnings.append(
            f"the build targets {manifest.runtime} (Python {manifest.python_version}) but this interpreter is "
            f"{host.describe()} ({host.executable}). Pure-Python code still runs; anything that depends on the "
            f"Python version may behave differently than on Lambda. Pass --python with a Python "
            f"{manifest.python_version} interpreter to match."
        )
    if info.unreadable:
        listed = _listing(list(info.unreadable))
        warnings.append(
            "Lambda runs your code as a non-root user that needs world-read permission (and world-execute on "
            f"directories); these entries lack it and will fail to load on Lambda although they load here:\n{listed}"
        )
    if problems:
        problems.insert(0, f"this host ({host.describe()}) cannot load native code in the build "
                           f"({manifest.runtime} on {manifest.architecture}):")
    return Assessment(tuple(problems), tuple(warnings))


def _listing(lines: list[str]) -> str:
    shown = [f"  - {line}" for line in lines[:_MAX_LISTED]]
    if len(lines) > _MAX_LISTED:
        shown.append(f"  - ... and {len(lines) - _MAX_LISTED} more")
    return "\n".join(shown)


def native_error(assessment: Assessment, manifest: Manifest) -> LocalRunError:
    header, *lines = assessment.problems
    message = (
        f"{header[0].upper()}{header[1:]}\n{_listing(lines)}\n"
        f"Importing it here would fail. Run on a matching host (Linux {_wheel_machine(manifest.architecture)}, "
        f"Python {manifest.python_version}; --python picks the interpreter), or pass --force to run anyway "
        "(code paths that do not load it still work)."
    )
    return LocalRunError(message)


def _wheel_machine(architecture: str) -> str:
    return {"arm64": "aarch64"}.get(architecture, architecture)


# --- environment ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunctionSettings:
    """What Lambda's configuration would say about the function: name, memory, region, variables."""

    function_name: str
    handler: str | None = None
    memory: int = DEFAULT_MEMORY
    region: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)

    def resolved_region(self, base: Mapping[str, str]) -> str:
        return self.region or base.get("AWS_REGION") or base.get("AWS_DEFAULT_REGION") or DEFAULT_REGION

    def arn(self, base: Mapping[str, str]) -> str:
        return f"arn:aws:lambda:{self.resolved_region(base)}:{_ACCOUNT}:function:{self.function_name}"


def _join(paths: Sequence[Path | str], existing: str | None) -> str:
    parts = [os.fspath(p) for p in paths]
    if existing:
        parts.append(existing)
    return os.pathsep.join(parts)


def lambda_environment(layout: Layout, manifest: Manifest, settings: FunctionSettings,
                       base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The host environment overlaid with Lambda's variables and the layout's PATH and LD_LIBRARY_PATH."""
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    region = settings.resolved_region(env)
    stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{FUNCTION_VERSION}]{uuid.uuid4().hex}"
    env.update({
        "LAMBDA_TASK_ROOT": os.fspath(layout.task),
        "LAMBDA_RUNTIME_DIR": os.fspath(layout.runtime_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{manifest.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": settings.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": FUNCTION_VERSION,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{settings.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        # On Lambda /opt/bin comes after the few system directories of the runtime image; the host has
        # far more on PATH, so the layer's tools go first here or a host tool of the same name would win.
        "PATH": _join([layout.bin_dir], env.get("PATH")),
        "LD_LIBRARY_PATH": _join(layout.library_path, env.get("LD_LIBRARY_PATH")),
        "HATCH_LAMBDA_LAYOUT": os.fspath(layout.root),
    })
    if settings.handler:
        env["_HANDLER"] = settings.handler
    env.update(settings.variables)
    return env


# --- invoke ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvokeResult:
    """What an invocation returned: the response (or Lambda's error document) and how it ended."""

    ok: bool
    output: str  # the response JSON, or the error document, as Lambda's Invoke API returns it
    raw: bytes | None = None  # a handler that returned bytes
    error_type: str | None = None
    summary: str | None = None  # one line for stderr when it failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


class _TimedOut(Exception):
    pass


def _read_control(stream: IO[bytes], messages: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        with contextlib.suppress(ValueError):
            messages.put(json.loads(line))
    messages.put(None)


def _copy_log(stream: IO[bytes], log: TextIO) -> None:
    for line in stream:
        log.write(line.decode("utf-8", "replace"))
        log.flush()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-returncode).name
            return "signal: " + _SIGNAL_TEXT.get(name, name.lower())
        return f"signal: {-returncode}"
    return f"exit status {returncode}"


def _failure(error: dict[str, Any], summary: str) -> InvokeResult:
    return InvokeResult(False, json.dumps(error), error_type=str(error.get("errorType")), summary=summary)


class _Child:
    """The bootstrap process: its control messages on a queue, its log copied to `sink` as it comes."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], sink: TextIO) -> None:
        # Its own session, so that a timeout kills the handler and every process it started.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env=env, start_new_session=os.name == "posix")
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        streams = (self.proc.stdout, self.proc.stderr)
        assert streams[0] is not None and streams[1] is not None  # noqa: S101 - both are pipes
        self.readers = [threading.Thread(target=_read_control, args=(streams[0], self.messages), daemon=True),
                        threading.Thread(target=_copy_log, args=(streams[1], sink), daemon=True)]
        for reader in self.readers:
            reader.start()

    def send(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None  # noqa: S101 - a pipe
        with contextlib.suppress(BrokenPipeError):
            stdin.write(data)
            stdin.close()

    def next_message(self, deadline: float) -> dict[str, Any] | None:
        """The next control message; None when the process closed its output (it exited)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _TimedOut
        try:
            return self.messages.get(timeout=remaining)
        except queue.Empty:
            raise _TimedOut from None

    def kill(self) -> None:
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(OSError):
                self.proc.kill()

    def exit_text(self) -> str:
        try:
            returncode = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            returncode = self.proc.wait()
        return _exit_text(returncode)

    def close(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.kill()  # strays the handler left behind: Lambda freezes or discards them too
        self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def invoke(layout: Layout, manifest: Manifest, host: Interpreter, settings: FunctionSettings, event: str,
           *, timeout: float = DEFAULT_TIMEOUT, extra_paths: Sequence[Path] = (), log: TextIO | None = None,
           quiet: bool = False) -> InvokeResult:
    """Runs the handler once in a fresh `-I -S` interpreter with Lambda's search order and environment."""
    sink = log if log is not None else sys.stderr
    if not settings.handler:
        raise LocalRunError("No handler to invoke: pass --handler package.module.function.")
    request_id = str(uuid.uuid4())
    env = lambda_environment(layout, manifest, settings)
    spec = {
        "handler": settings.handler,
        "paths": [os.fspath(p) for p in [*layout.python_path, *extra_paths]],
        "request_id": request_id,
        "timeout_ms": int(timeout * 1000),
        "invoked_function_arn": settings.arn(env),
        # The Python runtime writes non-ASCII text unescaped from python3.12 on.
        "ensure_ascii": tuple(int(x) for x in manifest.python_version.split(".")) < (3, 12),
        "event": event,
    }
    # -I: no PYTHON* variables, no user site, no script directory; -S: no site-packages at all. The
    # bootstrap then puts the layout in front of the stdlib, which is all that remains.
    cmd = [host.executable, "-I", "-S", "-X", f"pycache_prefix={layout.pycache}", os.fspath(BOOTSTRAP)]
    if not quiet:
        sink.write(f"START RequestId: {request_id} Version: {FUNCTION_VERSION}\n")
        sink.flush()
    started = time.monotonic()
    try:
        child = _Child(cmd, layout.task, env, sink)
    except OSError as e:
        raise LocalRunError(f"Cannot start {host.executable}: {e}") from None
    times = [0.0, 0.0]
    try:
        child.send(json.dumps(spec).encode("utf-8"))
        return _await_result(child, request_id, started, timeout, times)
    finally:
        child.close()
        if not quiet:
            sink.write(f"END RequestId: {request_id}\n")
            sink.write(f"REPORT RequestId: {request_id}\tInit Duration: {times[0]:.2f} ms\t"
                       f"Duration: {times[1]:.2f} ms\tMemory Size: {settings.memory} MB (not enforced locally)\n")
            sink.flush()


def _await_result(child: _Child, request_id: str, started: float, timeout: float, times: list[float]) -> InvokeResult:
    phase = "while importing the handler module"
    try:
        # Lambda gives imports 10 s of their own; a slower init is retried inside the invoke timeout.
        message = child.next_message(started + max(INIT_LIMIT, timeout))
        init_done = time.monotonic()
        times[0] = (init_done - started) * 1000
        if message is not None and "error" not in message:
            phase = "before returning"
            deadline = init_done + timeout if init_done - started <= INIT_LIMIT else started + timeout
            message = child.next_message(deadline)
            times[1] = (time.monotonic() - init_done) * 1000
    except _TimedOut:
        child.kill()
        error = {"errorType": "Sandbox.Timedout",
                 "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"}
        return _failure(error, f"timed out {phase}: the handler ran longer than {timeout:.2f} s (--timeout); "
                               "it was killed with every process it started.")
    if message is None:
        text = child.exit_text()
        error = {"errorType": "Runtime.ExitError",
                 "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {text}"}
        return _failure(error, f"the Python process exited without a response ({text}).")
    if "error" in message:
        error = message["error"]
        if message["phase"] == "init":
            what = "the handler could not be loaded:"
        elif str(error["errorType"]).startswith("Runtime."):
            what = "the invocation failed:"
        else:
            what = "the handler raised"
        return _failure(error, f"{what} {error['errorType']}: {error['errorMessage']}")
    if "bytes" in message:
        return InvokeResult(True, "", raw=bytes.fromhex(message["bytes"]))
    return InvokeResult(True, str(message["payload"]))


# --- run ------------------------------------------------------------------------------------------

def command_environment(layout: Layout, manifest: Manifest, settings: FunctionSettings,
                        extra_paths: Sequence[Path] = (), base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The invoke environment plus PYTHONPATH, for any command (pytest, python, a shell)."""
    source = os.environ if base is None else base
    env = lambda_environment(layout, manifest, settings, source)
    env["PYTHONPATH"] = _join([*layout.python_path, *extra_paths], source.get("PYTHONPATH"))
    env["PYTHONPYCACHEPREFIX"] = os.fspath(layout.pycache)
    return env


def run_command(layout: Layout, manifest: Manifest, host: Interpreter, settings: FunctionSettings,
                command: Sequence[str], extra_paths: Sequence[Path] = ()) -> int:
    """Runs `command` with the layout on its paths and returns its exit status."""
    env = command_environment(layout, manifest, settings, extra_paths)
    argv = list(command)
    if argv[0] in ("python", "python3"):
        # `python` means the interpreter hatch-lambda runs on (or --python), not whatever PATH finds first.
        argv[0] = host.executable
    found = shutil.which(argv[0], path=env["PATH"])
    if found is None:
        raise LocalRunError(f"Command not found: {argv[0]!r} (searched {layout.bin_dir} and PATH).")
    try:
        proc = subprocess.run([found, *argv[1:]], env=env, check=False)
    except OSError as e:
        raise LocalRunError(f"Cannot run {argv[0]!r}: {e}") from None
    return 128 - proc.returncode if proc.returncode < 0 else proc.returncode

