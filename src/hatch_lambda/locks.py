"""Lock files (pylock.toml, uv.lock, poetry.lock, pinned requirements*.txt): find one, read its pins for the target."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_lambda.config import TABLE
from hatch_lambda.errors import LockError
from hatch_lambda.runtimes import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # hatchling's dependency there

KIND_PYLOCK = "pylock.toml"
KIND_UV = "uv.lock"
KIND_POETRY = "poetry.lock"
KIND_REQUIREMENTS = "requirements"

# The hash algorithms pip's --hash accepts; others in a lock are ignored.
_PIP_HASHES = ("sha256", "sha384", "sha512")
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
# Options a requirements file may carry that only say where pip looks; passed on to pip as they are.
_INDEX_OPTIONS = {
    "-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
    "--trusted-host": "--trusted-host", "-f": "--find-links", "--find-links": "--find-links",
    "--no-index": "--no-index",
}
_HASH_RE = re.compile(r"--hash[=\s]+(\S+)")


@dataclass(frozen=True)
class LockedPackage:
    """One pinned distribution to install: an index package `name==version`, or a direct https URL."""

    name: str  # canonical
    version: str
    hashes: tuple[str, ...] = ()  # "algo:hex", sorted
    url: str | None = None
    extras: tuple[str, ...] = ()  # only matter when pip resolves (an unhashed requirements file)

    def requirement(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        spec = f"{self.name}{extras} @ {self.url}" if self.url else f"{self.name}{extras}=={self.version}"
        return " ".join([spec, *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class LockedSet:
    """What a lock file pins for the target, in a form every format shares."""

    source: str  # the lock's path relative to the project, POSIX style
    kind: str
    packages: tuple[LockedPackage, ...]
    complete: bool  # the full closure for the target: pip installs it with --no-deps
    pip_options: tuple[str, ...] = ()

    @property
    def hashed(self) -> bool:
        return bool(self.packages) and all(p.hashes for p in self.packages)


# ---------------------------------------------------------------------------------------------- finding


def lock_kind(path: PurePosixPath | Path) -> str:
    """The format of a lock file, decided by its name (PEP 751 names pylock files `pylock[.NAME].toml`)."""
    name = path.name
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return KIND_PYLOCK
    if name == "uv.lock":
        return KIND_UV
    if name == "poetry.lock":
        return KIND_POETRY
    return KIND_REQUIREMENTS


def _is_pinned_requirements(path: Path) -> bool:
    """A requirements file counts as a lock when it holds requirements and every one is pinned with `==`."""
    try:
        lines = _logical_lines(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    found = False
    for _, line in lines:
        if line.startswith("-"):
            continue
        spec = _HASH_RE.sub("", line).strip()
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            return False
        if not (req.url or _pinned_version(req)):
            return False
        found = True
    return found


def find_lock(root: Path, configured: str | None) -> Path | None:
    """The lock file the layer is built from: the configured one, else the single one next to pyproject.toml."""
    if configured is not None:
        path = root / configured
        if not path.is_file():
            message = (
                f"{root / 'pyproject.toml'}: Field `{TABLE}.lock` names {configured!r}, which does not exist "
                f"in {root}. Create it (e.g. `uv lock`, `poetry lock`, `pip lock -o pylock.toml`) or fix the path."
            )
            raise LockError(message)
        return path
    found: list[Path] = []
    for candidate in sorted(root.iterdir()):
        if not candidate.is_file():
            continue
        name = candidate.name
        is_requirements = name.startswith("requirements") and name.endswith(".txt")
        if lock_kind(candidate) != KIND_REQUIREMENTS or (is_requirements and _is_pinned_requirements(candidate)):
            found.append(candidate)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        message = (
            f"{root / 'pyproject.toml'}: several lock files were found next to pyproject.toml ({names}) and "
            f"the dependency layer can only be built from one. Name it with `lock` in [{TABLE}], "
            f'e.g. lock = "{found[0].name}".'
        )
        raise LockError(message)
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------- helpers


def _marker_true(marker: Marker | None, env: Mapping[str, str], extras: Iterable[str] = ()) -> bool:
    """Evaluates a marker for the target; `extra == ...` is true for any of the requested extras."""
    if marker is None:
        return True
    return any(marker.evaluate({**env, "extra": extra}) for extra in ("", *sorted(extras)))


def _parse_marker(text: str | None, where: str, source: str) -> Marker | None:
    if not text:
        return None
    try:
        return Marker(text)
    except InvalidMarker as e:
        raise LockError(f"{source}: {where} has an invalid marker {text!r}: {e}") from e


def _pinned_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _hash_list(hashes: Mapping[str, str] | Iterable[str]) -> list[str]:
    if isinstance(hashes, Mapping):
        return [f"{algo}:{value}" for algo, value in hashes.items() if algo in _PIP_HASHES]
    return [h for h in hashes if h.split(":", 1)[0] in _PIP_HASHES]


def _describe_tags(target: Target) -> str:
    return f"platform tags: {', '.join(target.platform_tags)}, any; ABIs: {', '.join(target.abis)}"


def _file_loads(filename: str, target: Target) -> bool | None:
    """True/False for a wheel that does/does not load on the target; None for an sdist or unknown file."""
    if filename.endswith(".whl"):
        try:
            return target.accepts(parse_wheel_filename(filename)[3])
        except InvalidWheelFilename:
            return None
    return None


def _is_sdist(filename: str) -> bool:
    try:
        parse_sdist_filename(filename)
    except InvalidSdistFilename:
        return False
    return True


def _check_files(source: str, name: str, version: str, files: Sequence[str], target: Target) -> LockError | None:
    """A lock that lists files must list one the target can use: a wheel it loads, or an sdist to build.

    Returned, not raised: it only matters if the package is selected for the target.
    """
    if not files:
        return None
    if any(_file_loads(f, target) for f in files) or any(_is_sdist(f) for f in files):
        return None
    if not all(_file_loads(f, target) is False for f in files):
        return None
    listed = ", ".join(sorted(files))
    return LockError(
        f"{source}: {name} {version} is locked with wheels that {target.describe()} cannot load "
        f"({listed}) and no sdist. Searched {_describe_tags(target)}. Lock for the Lambda target (e.g. "
        f"a universal `uv lock`), pick a version with a matching wheel, or exclude the package."
    )


def _not_installable(source: str, name: str, version: str, what: str, location: str) -> LockError:
    label = f"{name} {version}".strip()
    article = "an" if what[0] in "aeiou" else "a"
    return LockError(
        f"{source}: {label} is locked as {article} {what} dependency ({location}). A Lambda layer is built only "
        f"from packages an index serves by name and version (hash-checked against the lock), so it cannot hold "
        f"this one: publish the package to an index (or a `--find-links` folder given in `pip-args`) and lock "
        f"it by version, or vendor its code into the function."
    )


# ---------------------------------------------------------------------------------------------- graphs


_Edge = tuple[str, "Marker | None", tuple[str, ...], "Callable[[_Node], bool]"]


@dataclass
class _Node:
    """A package of a lock's dependency graph, in the shape the walker needs."""

    version: str
    package: LockedPackage | None  # None when it must not be installed (the project, or a `problem`)
    dependencies: list[_Edge]
    extras: Mapping[str, list[_Edge]]  # extra (or "\0group:NAME" at a uv root) -> further edges
    problem: LockError | None = None  # raised only if the walk reaches the package


def _walk(roots: Sequence[_Edge], nodes: Mapping[str, list[_Node]], env: Mapping[str, str], source: str,
          fix: str) -> list[LockedPackage]:
    """Every package reachable from `roots` whose markers hold on the target, with the extras asked of it.

    An edge's marker is evaluated with the extras of the package that declares it (`extra == "x"`).
    """
    chosen: dict[str, _Node] = {}
    extras_of: dict[str, set[str]] = {}
    pending: list[tuple[_Edge, frozenset[str]]] = [(edge, frozenset()) for edge in roots]
    while pending:
        (name, marker, extras, pick), parent_extras = pending.pop()
        if not _marker_true(marker, env, parent_extras):
            continue
        node = chosen.get(name)
        if node is None:
            candidates = [n for n in nodes.get(name, []) if pick(n)]
            if not candidates:
                raise LockError(f"{source} does not lock {name!r}, which the project needs for the target; {fix}")
            node = chosen[name] = candidates[0]
            if node.problem is not None:
                raise node.problem
            extras_of[name] = set(extras)
            edges = list(node.dependencies)
            new = set(extras)
        else:
            new = set(extras) - extras_of[name]
            if not new:
                continue
            extras_of[name] |= new
            edges = []
        for extra in sorted(new):
            edges += node.extras.get(extra, [])
        pending.extend((edge, frozenset(extras_of[name])) for edge in edges)
    return sorted((n.package for n in chosen.values() if n.package is not None), key=lambda p: p.name)


# ---------------------------------------------------------------------------------------------- pylock


def _read_pylock(data: Mapping[str, Any], source: str, settings_extras: Sequence[str],
                 settings_groups: Sequence[str], target: Target) -> LockedSet:
    from packaging.pylock import (
        PackageArchive,
        PackageDirectory,
        PackageVcs,
        Pylock,
        PylockSelectError,
        PylockValidationError,
    )

    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as e:
        raise LockError(f"{source} is not a valid PEP 751 lock file: {e}") from e
    env = dict(target.marker_environment)
    packages: list[LockedPackage] = []
    try:
        selected = list(lock.select(environment=env,  # type: ignore[arg-type]
                                    tags=list(target.tag_priority), extras=settings_extras,
                                    dependency_groups=settings_groups))
    except PylockSelectError as e:
        raise LockError(
            f"{source} cannot be installed on {target.describe()}: {e}. Searched {_describe_tags(target)}. "
            "`pip lock` records only the files of the machine it ran on; lock for the Lambda target "
            "(e.g. `uv export --format pylock.toml` from a universal uv.lock) or on a matching machine."
        ) from e
    for package, dist in selected:
        version = str(package.version) if package.version else "(no version)"
        if isinstance(dist, PackageDirectory):
            if PurePosixPath(dist.path) == PurePosixPath("."):
                continue  # the project itself (pip lock writes it); it is the function zip, not the layer
            raise _not_installable(source, package.name, version, "local directory", dist.path)
        if isinstance(dist, PackageVcs):
            raise _not_installable(source, package.name, version, "version-control (VCS)",
                                   dist.url or dist.path or dist.type)
        if isinstance(dist, PackageArchive):
            if dist.url is None or not dist.url.startswith(("https://", "http://")):
                raise _not_installable(source, package.name, version, "local archive",
                                       dist.path or dist.url or "")
            packages.append(LockedPackage(package.name, version, tuple(sorted(_hash_list(dist.hashes))),
                                          url=dist.url))
            continue
        if package.version is None:
            version = str(parse_wheel_filename(dist.filename)[1]) if dist.filename.endswith(".whl") else version
        hashes = sorted({h for w in package.wheels or () for h in _hash_list(w.hashes)}
                        | set(_hash_list(package.sdist.hashes) if package.sdist else []))
        packages.append(LockedPackage(package.name, version, tuple(hashes)))
    return LockedSet(source, KIND_PYLOCK, tuple(sorted(packages, key=lambda p: p.name)), complete=True)


# ---------------------------------------------------------------------------------------------- uv.lock


def _uv_edge(entry: Mapping[str, Any], where: str, source: str) -> _Edge:
    name = canonicalize_name(str(entry.get("name", "")))
    version = entry.get("version")
    marker = _parse_marker(entry.get("marker"), where, source)
    extras = tuple(canonicalize_name(e) for e in entry.get("extra", []))

    def pick(node: _Node) -> bool:
        return version is None or node.version == version

    return name, marker, extras, pick


def _uv_node(pkg: Mapping[str, Any], source: str, target: Target) -> tuple[str, _Node, bool]:
    name = canonicalize_name(str(pkg.get("name", "")))
    version = str(pkg.get("version", ""))
    where = f"package {name} {version}"
    src: Mapping[str, Any] = pkg.get("source", {})
    deps = [_uv_edge(d, where, source) for d in pkg.get("dependencies", [])]
    extras: dict[str, list[_Edge]] = {
        canonicalize_name(k): [_uv_edge(d, where, source) for d in v]
        for k, v in pkg.get("optional-dependencies", {}).items()
    }
    is_root = src.get("editable") == "." or src.get("virtual") == "."
    problem: LockError | None = None
    package: LockedPackage | None = None
    if is_root:
        pass
    elif "git" in src:
        problem = _not_installable(source, name, version, "version-control (VCS)", str(src["git"]))
    elif any(k in src for k in ("path", "directory", "editable", "virtual")):
        location = str(next(src[k] for k in ("path", "directory", "editable", "virtual") if k in src))
        problem = _not_installable(source, name, version, "local path", location)
    else:
        files: list[Mapping[str, Any]] = list(pkg.get("wheels", []))
        if "sdist" in pkg:
            files.append(pkg["sdist"])
        hashes = sorted({h for f in files if "hash" in f for h in _hash_list([str(f["hash"])])})
        url = str(src["url"]) if "url" in src else None
        package = LockedPackage(name, version, tuple(hashes), url=url)
        names = [str(f.get("url", f.get("path", ""))).rsplit("/", 1)[-1] for f in files]
        if url is None:
            problem = _check_files(source, name, version, [n for n in names if n], target)
    groups = {f"\0group:{canonicalize_name(k)}": [_uv_edge(d, where, source) for d in v]
              for k, v in pkg.get("dev-dependencies", {}).items()}
    return name, _Node(version, package, deps, {**extras, **groups}, problem), is_root


def _read_uv(data: Mapping[str, Any], source: str, extras: Sequence[str], groups: Sequence[str],
             target: Target) -> LockedSet:
    nodes: dict[str, list[_Node]] = {}
    root: _Node | None = None
    for pkg in data.get("package", []):
        name, node, is_root = _uv_node(pkg, source, target)
        nodes.setdefault(name, []).append(node)
        if is_root and root is None:
            root = node
    if root is None:
        raise LockError(
            f"{source} has no entry for the project itself (source = {{ editable = \".\" }}); it does not "
            "look like this project's lock. Run `uv lock` next to pyproject.toml."
        )
    fix = "the lock is out of date: run `uv lock`."
    edges: list[_Edge] = list(root.dependencies)
    for extra in extras:
        if extra not in root.extras:
            raise LockError(f"{source} has no optional dependencies for the extra {extra!r}; {fix}")
        edges += root.extras[extra]
    for group in groups:
        key = f"\0group:{canonicalize_name(group)}"
        if key not in root.extras:
            raise LockError(f"{source} has no dependency group {group!r}; {fix}")
        edges += root.extras[key]
    packages = _walk(edges, nodes, target.marker_environment, source, fix)
    return LockedSet(source, KIND_UV, tuple(packages), complete=True)


# ---------------------------------------------------------------------------------------------- poetry.lock


def _poetry_constraint(text: str) -> SpecifierSet | None:
    """Poetry's version constraints (`^1.2`, `~1.2`, `>=1,<2`, `1.2.*`, `a || b`) as a PEP 440 set.

    `||` alternatives are reduced to the first one that parses; None means "any" (or unparseable, which
    we treat as any: including a dependency too many is safer than leaving one out).
    """
    text = text.strip()
    if text in ("", "*"):
        return None
    for alternative in text.split("||"):
        parts: list[str] = []
        for raw in re.split(r"[,\s]+(?=[<>=!~^]|\d)", alternative.strip()):
            part = raw.strip().rstrip(",")
            if not part:
                continue
            if part.startswith("^") or (part.startswith("~") and not part.startswith("~=")):
                base = part[1:].strip()
                nums = [int(x) for x in re.findall(r"\d+", base)[:3]] or [0]
                if part.startswith("^"):
                    i = next((k for k, n in enumerate(nums) if n), len(nums) - 1)
                    upper = [*nums[:i], nums[i] + 1]
                else:
                    upper = [nums[0] + 1] if len(nums) == 1 else [nums[0], nums[1] + 1]
                parts += [f">={base}", f"<{'.'.join(map(str, upper))}"]
            elif part[0].isdigit():
                parts.append(f"=={part}")
            else:
                parts.append(part)
        try:
            return SpecifierSet(",".join(parts))
        except InvalidSpecifier:
            continue
    return None


def _poetry_edges(name: str, value: Any, where: str, source: str, target: Target) -> list[tuple[_Edge, bool]]:
    """One `[package.dependencies]` entry -> edges, each with its `optional` flag."""
    entries = value if isinstance(value, list) else [value]
    edges: list[tuple[_Edge, bool]] = []
    python = Version(target.marker_environment["python_full_version"])
    for entry in entries:
        spec = entry if isinstance(entry, str) else str(entry.get("version", "*"))
        table: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {}
        py = table.get("python")
        if isinstance(py, str):
            allowed = _poetry_constraint(py)
            if allowed is not None and not allowed.contains(python, prereleases=True):
                continue
        marker = _parse_marker(table.get("markers"), where, source)
        extras = tuple(canonicalize_name(e) for e in table.get("extras", []))
        constraint = _poetry_constraint(spec)

        def pick(node: _Node, constraint: SpecifierSet | None = constraint) -> bool:
            try:
                return constraint is None or constraint.contains(Version(node.version), prereleases=True)
            except InvalidVersion:
                return True

        edges.append(((canonicalize_name(name), marker, extras, pick), bool(table.get("optional", False))))
    return edges


def _read_poetry(data: Mapping[str, Any], source: str, roots: Sequence[Requirement], target: Target) -> LockedSet:
    nodes: dict[str, list[_Node]] = {}
    for pkg in data.get("package", []):
        name = canonicalize_name(str(pkg.get("name", "")))
        version = str(pkg.get("version", ""))
        where = f"package {name} {version}"
        required: list[_Edge] = []
        optional: dict[str, _Edge] = {}
        for dep_name, value in pkg.get("dependencies", {}).items():
            for edge, is_optional in _poetry_edges(dep_name, value, where, source, target):
                if is_optional:
                    optional.setdefault(edge[0], edge)
                else:
                    required.append(edge)
        extras: dict[str, list[_Edge]] = {}
        for extra, reqs in pkg.get("extras", {}).items():
            # Entries look like "PySocks (>=1.5.6,!=1.5.7)" or "pysocks"; only the name links to the edge.
            names = [canonicalize_name(re.split(r"[\s(\[<>=!~;]", str(r).strip(), maxsplit=1)[0]) for r in reqs]
            extras[canonicalize_name(extra)] = [optional[n] for n in names if n in optional]
        src: Mapping[str, Any] = pkg.get("source", {})
        kind = str(src.get("type", ""))
        problem: LockError | None = None
        package: LockedPackage | None = None
        files = [f for f in pkg.get("files", []) if isinstance(f, Mapping)]
        hashes = tuple(sorted({h for f in files if "hash" in f for h in _hash_list([str(f["hash"])])}))
        if kind == "git":
            problem = _not_installable(source, name, version, "version-control (VCS)", str(src.get("url", "")))
        elif kind in ("directory", "file"):
            problem = _not_installable(source, name, version, "local path", str(src.get("url", "")))
        elif kind == "url":
            package = LockedPackage(name, version, hashes, url=str(src.get("url", "")))
        else:  # PyPI, or a `legacy` (simple API) source: an index package; pip-args must point pip at it
            package = LockedPackage(name, version, hashes)
            problem = _check_files(source, name, version, [str(f.get("file", "")) for f in files], target)
        nodes.setdefault(name, []).append(_Node(version, package, required, extras, problem))
    edges: list[_Edge] = []
    for req in roots:
        spec = req.specifier

        def pick(node: _Node, spec: SpecifierSet = spec) -> bool:
            return spec.contains(node.version, prereleases=True)

        edges.append((canonicalize_name(req.name), None, tuple(sorted(req.extras)), pick))
    fix = "the lock is out of date: run `poetry lock`."
    return LockedSet(source, KIND_POETRY, tuple(_walk(edges, nodes, target.marker_environment, source, fix)),
                     complete=True)


# ---------------------------------------------------------------------------------------------- requirements


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) per logical line: continuations joined, comments and blanks dropped."""
    out: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        out.append((start, buffer.strip()))
    return out


def _requirements_option(line: str, path: Path, root: Path, where: str, target: Target,
                         seen: set[Path]) -> tuple[list[LockedPackage], list[str]]:
    """An option line of a requirements file: an include, or an index option passed on to pip."""
    flag, _, value = line.partition(" ")
    if "=" in flag:
        flag, _, value = line.partition("=")
    value = value.strip()
    if flag in ("-r", "--requirement"):
        included = (path.parent / value).resolve()
        if not included.is_relative_to(root.resolve()) or not included.is_file():
            raise LockError(f"{where}: `{line}` includes a file that is not inside the project.")
        return _read_requirements(included, root, included.relative_to(root.resolve()).as_posix(), target, seen)
    if flag in ("-e", "--editable"):
        raise _not_installable(where, value, "", "editable (path or VCS)", value)
    if flag in _INDEX_OPTIONS:
        return [], [_INDEX_OPTIONS[flag], value] if value else [_INDEX_OPTIONS[flag]]
    message = (
        f"{where}: the option `{flag}` is not supported in a lock for a Lambda layer (supported: "
        f"-r, --hash, {', '.join(sorted(set(_INDEX_OPTIONS.values())))}). Put pip options in "
        f"`pip-args` in [{TABLE}]."
    )
    raise LockError(message)


def _read_requirements(path: Path, root: Path, source: str, target: Target,
                       seen: set[Path] | None = None) -> tuple[list[LockedPackage], list[str]]:
    seen = seen if seen is not None else set()
    if path.resolve() in seen:
        return [], []
    seen.add(path.resolve())
    packages: list[LockedPackage] = []
    options: list[str] = []
    env = target.marker_environment
    for number, line in _logical_lines(path.read_text("utf-8")):
        where = f"{source}, line {number}"
        if line.startswith("-"):
            more, more_options = _requirements_option(line, path, root, where, target, seen)
            packages += more
            options += more_options
            continue
        hashes = list(_HASH_RE.findall(line))
        spec = _HASH_RE.sub("", line).strip()
        try:
            req = Requirement(spec)
        except InvalidRequirement as e:
            raise LockError(f"{where}: {spec!r} is not a valid requirement: {e}") from e
        if not _marker_true(req.marker, env):
            continue
        name = canonicalize_name(req.name)
        extras = tuple(sorted(canonicalize_name(e) for e in req.extras))
        if req.url:
            if req.url.startswith(_VCS_PREFIXES):
                raise _not_installable(where, name, "", "version-control (VCS)", req.url)
            if not req.url.startswith(("https://", "http://")):
                raise _not_installable(where, name, "", "local path", req.url)
            packages.append(LockedPackage(name, "", tuple(sorted(_hash_list(hashes))), url=req.url, extras=extras))
            continue
        version = _pinned_version(req)
        if version is None:
            message = (
                f"{where}: `{spec}` is not pinned. A lock pins every package to one version with `==` "
                "(e.g. generate it with `uv pip compile --generate-hashes` or `pip-compile --generate-hashes`)."
            )
            raise LockError(message)
        packages.append(LockedPackage(name, version, tuple(sorted(_hash_list(hashes))), extras=extras))
    return packages, options


def _read_requirements_lock(path: Path, root: Path, source: str, target: Target) -> LockedSet:
    packages, options = _read_requirements(path, root, source, target)
    with_hash = [p for p in packages if p.hashes]
    if with_hash and len(with_hash) != len(packages):
        missing = ", ".join(sorted(p.name for p in packages if not p.hashes))
        message = (
            f"{source}: some requirements carry --hash and others do not ({missing}). pip checks hashes for "
            "all or none: regenerate the file with hashes for every package."
        )
        raise LockError(message)
    by_name: dict[str, LockedPackage] = {}
    for package in packages:
        other = by_name.get(package.name)
        if other is not None and other != package:
            raise LockError(f"{source}: {package.name} is pinned twice, differently ({other.requirement()} "
                            f"and {package.requirement()}) for {target.describe()}.")
        by_name[package.name] = package
    # A hash-checked file must be complete (pip refuses unpinned dependencies), so it installs as is; an
    # unhashed one lets pip fill in what a hand-written file forgot.
    hashed = bool(with_hash)
    return LockedSet(source, KIND_REQUIREMENTS, tuple(sorted(by_name.values(), key=lambda p: p.name)),
                     complete=hashed, pip_options=tuple(options))


# ---------------------------------------------------------------------------------------------- entry point


def read_lock(path: Path, root: Path, target: Target, roots: Sequence[Requirement], extras: Sequence[str],
              groups: Sequence[str]) -> LockedSet:
    """Reads a lock for the target: markers evaluated for Lambda, the project's extras and groups applied.

    `roots` are the project's declared requirements for the target (poetry.lock does not record them).
    """
    try:
        source = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        source = path.name
    kind = lock_kind(path)
    if kind == KIND_REQUIREMENTS:
        return _read_requirements_lock(path, root, source, target)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LockError(f"{source} is not valid TOML: {e}") from e
    try:
        if kind == KIND_PYLOCK:
            return _read_pylock(data, source, extras, groups, target)
        if kind == KIND_UV:
            return _read_uv(data, source, extras, groups, target)
        return _read_poetry(data, source, roots, target)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        if isinstance(e, LockError):
            raise
        raise LockError(f"{source} does not have the structure of a {kind} file: {type(e).__name__}: {e}") from e
