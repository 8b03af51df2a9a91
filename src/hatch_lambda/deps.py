"""The dependency layer: which requirements go in, the pip command for the target, and slimming."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.dependency_groups import resolve_dependency_groups
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename

from hatch_lambda import locks
from hatch_lambda.archive import ARCHIVE_FORMAT_VERSION
from hatch_lambda.config import TABLE, DependencyConfig
from hatch_lambda.errors import DependencyError, LockError
from hatch_lambda.fingerprint import FINGERPRINT_VERSION
from hatch_lambda.reporting import Reporter
from hatch_lambda.runtimes import Target

# pip settings from the environment that would fight the command we build (where and for what it installs).
_CONFLICTING_PIP_ENV = (
    "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_PLATFORM", "PIP_PYTHON_VERSION", "PIP_ABI",
    "PIP_IMPLEMENTATION", "PIP_NO_BINARY", "PIP_ONLY_BINARY", "PIP_PREFER_BINARY", "PIP_REQUIRE_VIRTUALENV",
    "PIP_NO_DEPS", "PIP_REQUIRE_HASHES", "PIP_EDITABLE", "PIP_COMPILE", "PIP_NO_COMPILE",
)
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_HASH_MISMATCH = "DO NOT MATCH THE HASHES"
# What pip prints when it cannot reach an index at all (as opposed to finding no matching file there).
_UNREACHABLE = re.compile(
    r"Failed to establish a new connection|Could not fetch URL|Connection refused|Name or service not known|"
    r"Temporary failure in name resolution|NewConnectionError|ProxyError|Max retries exceeded"
)
_PIP_TAIL = 15


@dataclass(frozen=True)
class ProjectDependencies:
    """What pyproject.toml declares, as hatchling read it."""

    dependencies: tuple[str, ...] = ()
    optional: Mapping[str, Sequence[str]] = field(default_factory=dict)
    groups: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedDependencies:
    """The requirement lines pip will install, already evaluated for the target's markers."""

    source: str  # the file they came from, relative to the project: "uv.lock", "pyproject.toml", ...
    locked: bool
    requirements: tuple[str, ...]  # sorted; a lock's lines are `name==version --hash=...`
    hashed: bool = False
    complete: bool = False  # the full closure for the target: pip installs it with --no-deps
    roots: tuple[str, ...] = ()  # canonical names the project asks for itself (exclude-packages keeps them)
    pip_options: tuple[str, ...] = ()  # index options a requirements file carries
    # Where pip runs (relative paths in pip-args and requirements files mean the project); never fingerprinted.
    root: Path | None = field(default=None, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def payload(self) -> dict[str, Any]:
        """Canonical inputs: sorted, relative, no timestamps; any changed pin or hash changes it."""
        return {
            "source": self.source,
            "locked": self.locked,
            "hashed": self.hashed,
            "complete": self.complete,
            "requirements": sorted(self.requirements),
            "roots": sorted(self.roots),
            "pip_options": list(self.pip_options),
        }


def installer_identity() -> dict[str, str]:
    """Name and version of the installer; a pip upgrade may pick other wheels, so it is fingerprinted."""
    # pip's own __version__ is what `python -m pip` runs, and reading it is cheaper than importlib.metadata.
    from pip import __version__

    return {"name": "pip", "version": str(__version__)}


def _parse_requirements(lines: Sequence[str], target: Target, origin: str) -> list[Requirement]:
    kept: list[Requirement] = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            raise DependencyError(f"{origin}: the requirement {line!r} is not valid: {e}") from e
        if req.marker is not None and not req.marker.evaluate(dict(target.marker_environment)):
            continue
        req.marker = None
        kept.append(req)
    return kept


def _declared(project: ProjectDependencies, settings: DependencyConfig, target: Target) -> list[Requirement]:
    lines = list(project.dependencies)
    for extra in settings.extras:
        if extra not in project.optional:
            known = ", ".join(sorted(project.optional)) or "none"
            message = (
                f"pyproject.toml: Field `{TABLE}.extras` names {extra!r}, which is not in "
                f"[project.optional-dependencies] (known: {known})."
            )
            raise DependencyError(message)
        lines.extend(project.optional[extra])
    if settings.groups:
        missing = [g for g in settings.groups if g not in project.groups]
        if missing:
            message = (
                f"pyproject.toml: Field `{TABLE}.dependency-groups` names {', '.join(map(repr, missing))}, "
                f"which is not in [dependency-groups] (known: {', '.join(sorted(project.groups)) or 'none'})."
            )
            raise DependencyError(message)
        try:
            lines.extend(resolve_dependency_groups(project.groups, *settings.groups))
        except (ValueError, TypeError, LookupError) as e:
            raise DependencyError(f"pyproject.toml: [dependency-groups] cannot be resolved: {e}") from e
    return _parse_requirements(lines, target, "pyproject.toml")


def declared_requirements(project: ProjectDependencies, settings: DependencyConfig, target: Target) -> list[str]:
    """[project].dependencies plus the configured extras and dependency groups, for the target's markers."""
    return sorted(dict.fromkeys(str(req) for req in _declared(project, settings, target)))


def resolve(
    root: Path, project: ProjectDependencies, settings: DependencyConfig, target: Target, log: Reporter
) -> ResolvedDependencies:
    """Reads what the layer must hold; cheap (files only: no network, no installer), so it runs on every build."""
    declared = _declared(project, settings, target)
    roots = tuple(sorted({canonicalize_name(r.name) for r in declared}))
    lock_path = locks.find_lock(root, settings.lock)
    if lock_path is None:
        requirements = sorted(dict.fromkeys(str(req) for req in declared))
        if requirements:
            log.warn(
                "The dependency layer is built from pyproject.toml's declared dependencies, not a lock file: it "
                "is not reproducible until you lock it (pylock.toml, uv.lock, poetry.lock or a pinned "
                "requirements.txt)."
            )
        return ResolvedDependencies("pyproject.toml", False, tuple(requirements), roots=roots, root=root)
    locked = locks.read_lock(lock_path, root, target, declared, settings.extras, settings.groups)
    names = {p.name for p in locked.packages}
    stale = [str(r) for r in declared if canonicalize_name(r.name) not in names]
    if stale:
        message = (
            f"{locked.source} does not lock {', '.join(stale)}, which pyproject.toml declares for "
            f"{target.describe()}: the lock is out of date. Re-lock the project."
        )
        raise LockError(message)
    unhashed = sorted(p.name for p in locked.packages if not p.hashes)
    if unhashed and len(unhashed) != len(locked.packages):
        log.warn(
            f"{locked.source} has no hashes for {', '.join(unhashed)}: the dependency layer is installed "
            "without hash checking."
        )
    # pip turns hash checking on by itself when any line has a hash: all lines carry them, or none does.
    packages = locked.packages if locked.hashed else [dataclasses.replace(p, hashes=()) for p in locked.packages]
    requirements = sorted(p.requirement() for p in packages)
    return ResolvedDependencies(locked.source, True, tuple(requirements), hashed=locked.hashed,
                                complete=locked.complete, roots=roots, pip_options=locked.pip_options, root=root)


def layer_payload(resolved: ResolvedDependencies, target: Target, settings: DependencyConfig) -> dict[str, Any]:
    """Everything that can change the dependency layer's bytes (see README, "How fingerprints are computed")."""
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "archive_format": ARCHIVE_FORMAT_VERSION,
        "kind": "dependencies",
        "runtime": target.runtime.name,
        "python_version": target.runtime.python_version,
        "architecture": target.architecture,
        "platform_tags": list(target.platform_tags),
        "abis": list(target.abis),
        "installer": installer_identity(),
        "inputs": resolved.payload(),
        "options": {
            "exclude_packages": list(settings.exclude_packages),
            "exclude_patterns": list(settings.exclude_patterns),
            "strip_bytecode": settings.strip_bytecode,
            "keep_dist_info": settings.keep_dist_info,
            "pip_args": list(settings.pip_args),
        },
    }


# ---------------------------------------------------------------------------------------------- pip


def _target_options(target: Target) -> list[str]:
    """The options that make pip choose for the Lambda target instead of this machine."""
    cmd = ["--only-binary=:all:", "--implementation", "cp", "--python-version", target.runtime.python_version]
    for abi in target.abis:
        cmd += ["--abi", abi]
    for tag in target.platform_tags:
        cmd += ["--platform", tag]
    return cmd


def pip_command(requirements_file: Path, target_dir: Path, target: Target, settings: DependencyConfig,
                hashed: bool, *, no_deps: bool = False, find_links: Sequence[Path] = (),
                pip_options: Sequence[str] = ()) -> list[str]:
    """The one place the pip install command line is built: target tags only, never the host's."""
    cmd = [
        sys.executable, "-m", "pip", "install",
        "--target", str(target_dir),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        *_target_options(target),
    ]
    if hashed:
        cmd.append("--require-hashes")
    if no_deps:
        cmd.append("--no-deps")
    for folder in find_links:
        cmd += ["--find-links", str(folder)]
    cmd += [*pip_options, *settings.pip_args]
    cmd += ["-r", str(requirements_file)]
    return cmd


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CONFLICTING_PIP_ENV}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_pip(cmd: list[str], cwd: Path | None, log: Reporter) -> subprocess.CompletedProcess[str]:
    log.debug("Running: " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd, env=_pip_env())


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    """pip's last lines (its error is at the end of stderr; stdout helps when stderr is empty)."""
    lines = [line for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]
    return "\n".join(lines[-_PIP_TAIL:])


def _raise_if_unreachable(proc: subprocess.CompletedProcess[str], resolved: ResolvedDependencies,
                          target: Target) -> None:
    """A cold build needs the package index; say so instead of blaming a missing wheel."""
    if _UNREACHABLE.search(proc.stderr + proc.stdout):
        message = (
            f"pip could not reach the package index to build the dependency layer for {target.describe()} "
            f"(dependencies from {resolved.source}); the layer is not in the store, so it must be installed. "
            f"Check the network, the proxy and the index settings (PIP_INDEX_URL, pip.conf, `pip-args`).\n"
            f"{_tail(proc)}"
        )
        raise DependencyError(message)


def _searched(target: Target) -> str:
    return f"Searched platform tags: {', '.join(target.platform_tags)}, any; ABIs: {', '.join(target.abis)}."


def _requirement_for(name: str, resolved: ResolvedDependencies) -> str | None:
    """The layer's own requirement line for a package, if it has one."""
    for line in resolved.requirements:
        try:
            if canonicalize_name(Requirement(line.split(" --hash", 1)[0]).name) == name:
                return line
        except InvalidRequirement:
            continue
    return None


def _version_text(requirement: str) -> str:
    try:
        req = Requirement(requirement.split(" --hash", 1)[0])
    except InvalidRequirement:
        return requirement
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return specs[0].version
    return f"any version matching {str(req.specifier) or '*'}"


def _build_sdist(requirement: str, resolved: ResolvedDependencies, target: Target, settings: DependencyConfig,
                 work: Path, log: Reporter) -> Path:
    """Builds a package with no acceptable wheel from its sdist; only a pure-Python result may be used."""
    line = _requirement_for(canonicalize_name(Requirement(requirement.split(" --hash", 1)[0]).name), resolved)
    line = line or requirement
    req = Requirement(line.split(" --hash", 1)[0])
    name = canonicalize_name(req.name)
    version = _version_text(line)
    out = work / "built" / name
    out.mkdir(parents=True, exist_ok=True)
    req_file = work / f"sdist-{name}.txt"
    req_file.write_text(line + "\n", "utf-8")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", name, "--wheel-dir", str(out),
           "--disable-pip-version-check", "--no-input"]
    if resolved.hashed:
        cmd.append("--require-hashes")
    cmd += [*resolved.pip_options, *settings.pip_args, "-r", str(req_file)]
    proc = _run_pip(cmd, resolved.root, log)
    if proc.returncode != 0:
        _raise_if_unreachable(proc, resolved, target)
        if _NO_MATCH.search(proc.stderr + proc.stdout):
            message = (
                f"No acceptable wheel for {name} {version} on {target.describe()}, and no sdist to build one "
                f"from (dependencies from {resolved.source}). {_searched(target)} Pick a version that publishes a "
                f"wheel for these tags, or drop the package with `exclude-packages` if the runtime provides it."
            )
            raise DependencyError(message)
        message = (
            f"{name} {version} has no acceptable wheel for {target.describe()}, and building it from its sdist "
            f"failed (dependencies from {resolved.source}). {_searched(target)}\n{_tail(proc)}"
        )
        raise DependencyError(message)
    built = sorted(out.glob("*.whl"))
    if not built:  # pragma: no cover - pip reported success
        raise DependencyError(f"pip built no wheel for {name} {version} from its sdist.")
    wheel = built[0]
    wheel_tags = parse_wheel_filename(wheel.name)[3]
    if not all(t.platform == "any" and t.abi == "none" for t in wheel_tags) or not target.accepts(wheel_tags):
        message = (
            f"{name} {version} has no acceptable wheel for {target.describe()}, and its sdist builds a "
            f"platform-specific wheel ({wheel.name}) for this machine, which Lambda cannot load. "
            f"{_searched(target)} Pick a version that publishes a manylinux wheel for these tags, or build the "
            f"wheel on a matching Amazon Linux machine and give its folder to pip with `--find-links` in "
            f"`pip-args`."
        )
        raise DependencyError(message)
    log.info(f"Built {wheel.name} from the sdist of {name} {version} (pure Python: it loads on any target).")
    return wheel


def _hash_mismatch_error(resolved: ResolvedDependencies, target: Target, tail: str) -> DependencyError:
    return DependencyError(
        f"A downloaded file does not match the hash locked in {resolved.source}: pip refused to install it. "
        f"Either the file on the index or in a --find-links folder was changed after locking (a tampered or "
        f"rebuilt file), or the lock is stale; check the source, then re-lock if the change is expected "
        f"(dependency layer for {target.describe()}).\n{tail}"
    )


_RunPip = Callable[[list[str], list[Path]], "subprocess.CompletedProcess[str]"]
_MAX_MARKER_ROUNDS = 5


def _with_sdists(run: _RunPip, lines: list[str], resolved: ResolvedDependencies, target: Target,
                 settings: DependencyConfig, work: Path, built: dict[str, Path], log: Reporter) -> list[str]:
    """Runs pip; a package with no acceptable wheel is built from its sdist (pure Python only) and pip reruns.

    Returns the requirement lines that worked (in hash mode a built wheel's own hash is added to its line).
    """
    while True:
        proc = run(lines, sorted({w.parent for w in built.values()}))
        if proc.returncode == 0:
            return lines
        output = proc.stderr + proc.stdout
        if _HASH_MISMATCH in output:
            raise _hash_mismatch_error(resolved, target, _tail(proc))
        _raise_if_unreachable(proc, resolved, target)
        missing = _NO_MATCH.search(output)
        name = canonicalize_name(Requirement(missing.group(1)).name) if missing else None
        if missing is None or name is None or name in built:
            message = (
                f"pip could not install the dependency layer for {target.describe()} from {resolved.source}. "
                f"{_searched(target)}\n{_tail(proc)}"
            )
            raise DependencyError(message)
        wheel = _build_sdist(missing.group(1), resolved, target, settings, work, log)
        built[name] = wheel
        if resolved.hashed:
            # The sdist was checked against the lock's hashes; the wheel built from it is trusted by its own.
            from hatch_lambda.fingerprint import file_sha256

            own = _requirement_for(name, resolved)
            lines = [f"{line} --hash=sha256:{file_sha256(wheel)}" if line == own else line for line in lines]


def _report_walk(roots: Sequence[Requirement], report: Mapping[str, Any], target: Target
                 ) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Follows pip's resolution with the target's markers: what the target needs, and what pip left out."""
    items = {canonicalize_name(i["metadata"]["name"]): i for i in report.get("install", [])}
    env = dict(target.marker_environment)
    needed: dict[str, Mapping[str, Any]] = {}
    extras_of: dict[str, set[str]] = {}
    missing: list[str] = []
    pending: list[Requirement] = list(roots)
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        item = items.get(name)
        if item is None:
            bare = Requirement(str(req))
            bare.marker = None
            missing.append(str(bare))
            continue
        known = extras_of.setdefault(name, set())
        new = {canonicalize_name(e) for e in req.extras} - known
        if name in needed and not new:
            continue
        known |= new
        needed[name] = item
        for line in item["metadata"].get("requires_dist", []) or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({**env, "extra": e}) for e in ("", *sorted(known))):
                pending.append(dep)
    return needed, sorted(set(missing))


def _pin_for_target(resolved: ResolvedDependencies, target: Target, settings: DependencyConfig, work: Path,
                    built: dict[str, Path], log: Reporter) -> list[str]:
    """Pins a resolution for the target: pip resolves, then its choice is re-walked with the target's markers.

    pip evaluates the markers of dependencies for the machine it runs on, not for --platform/--python-version
    (a python3.10 layer built on 3.11 would miss `exceptiongroup; python_version < "3.11"`). Packages the target
    needs but pip left out are added and pip resolves again; packages only the host needed are dropped.
    """
    roots = [Requirement(line.split(" --hash", 1)[0]) for line in resolved.requirements]
    listed = {canonicalize_name(r.name) for r in roots}
    lines = list(resolved.requirements)
    report_file = work / "report.json"
    req_file = work / "resolve.txt"

    def dry_run(current: list[str], find_links: list[Path]) -> subprocess.CompletedProcess[str]:
        req_file.write_text("\n".join(current) + "\n", "utf-8")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report_file), "--disable-pip-version-check", "--no-input", *_target_options(target)]
        for folder in find_links:
            cmd += ["--find-links", str(folder)]
        cmd += [*resolved.pip_options, *settings.pip_args, "-r", str(req_file)]
        return _run_pip(cmd, resolved.root, log)

    for _ in range(_MAX_MARKER_ROUNDS):
        lines = _with_sdists(dry_run, lines, resolved, target, settings, work, built, log)
        report = json.loads(report_file.read_text("utf-8"))
        needed, missing = _report_walk(roots, report, target)
        if not missing:
            break
        log.debug(f"Added for the target's markers (pip resolved for this machine): {', '.join(missing)}")
        roots += [Requirement(m) for m in missing]
        lines += missing
    else:  # pragma: no cover - needs a dependency graph that keeps growing
        raise DependencyError(f"The dependencies from {resolved.source} do not settle for {target.describe()}.")
    pinned: list[str] = []
    if resolved.locked:
        unpinned = sorted(set(needed) - listed)
        if unpinned:
            log.warn(f"{resolved.source} does not pin {', '.join(unpinned)}, which the locked packages need on "
                     f"{target.describe()}: pip chose their versions. Regenerate the lock to pin them.")
    for name, item in sorted(needed.items()):
        info = item.get("download_info", {})
        url = str(info.get("url", ""))
        if item.get("is_direct"):
            pinned.append(f"{name} @ {url}")
        else:
            pinned.append(f"{name}=={item['metadata']['version']}")
    return pinned


def install(resolved: ResolvedDependencies, target: Target, settings: DependencyConfig, staging: Path,
            log: Reporter) -> None:
    """Installs the requirements under `staging/python` for the target, checks every wheel, slims the result.

    `staging` must be a fresh directory in a scratch area: helper files go beside it, never inside it.
    """
    python_dir = staging / "python"
    work = staging.parent / f"{staging.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    req_file = work / "requirements.txt"
    built: dict[str, Path] = {}
    lines = list(resolved.requirements)
    if not resolved.complete:
        # Not a full closure (declared ranges, an unhashed requirements file): resolve for the target first.
        lines = _pin_for_target(resolved, target, settings, work, built, log)

    def install_run(current: list[str], find_links: list[Path]) -> subprocess.CompletedProcess[str]:
        shutil.rmtree(python_dir, ignore_errors=True)
        python_dir.mkdir(parents=True)
        req_file.write_text("\n".join(current) + "\n", "utf-8")
        cmd = pip_command(req_file, python_dir, target, settings, resolved.hashed, no_deps=True,
                          find_links=find_links, pip_options=resolved.pip_options)
        return _run_pip(cmd, resolved.root, log)

    _with_sdists(install_run, lines, resolved, target, settings, work, built, log)
    shutil.rmtree(work, ignore_errors=True)
    check_wheel_tags(python_dir, target, resolved.source)
    slim(python_dir, settings, target, resolved.roots, log)


# ---------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class InstalledDist:
    """A distribution pip installed into the layer, read from its `.dist-info`."""

    name: str  # canonical
    version: str
    dist_info: Path
    requires: tuple[Requirement, ...]
    tags: tuple[Tag, ...]


def installed_dists(python_dir: Path) -> list[InstalledDist]:
    from email.parser import HeaderParser  # only needed after an install; kept off the warm path

    found: list[InstalledDist] = []
    for info in sorted(python_dir.glob("*.dist-info")):
        meta = HeaderParser().parsestr((info / "METADATA").read_text("utf-8", errors="replace"))
        requires: list[Requirement] = []
        for line in meta.get_all("Requires-Dist") or []:
            try:
                requires.append(Requirement(line))
            except InvalidRequirement:
                continue  # a dependency we cannot parse cannot be followed; it only keeps less
        wheel_tags: list[Tag] = []
        wheel_file = info / "WHEEL"
        if wheel_file.is_file():
            wheel_meta = HeaderParser().parsestr(wheel_file.read_text("utf-8", errors="replace"))
            for text in wheel_meta.get_all("Tag") or []:
                wheel_tags.extend(parse_tag(text.strip()))
        found.append(InstalledDist(canonicalize_name(str(meta["Name"])), str(meta["Version"]), info,
                                   tuple(requires), tuple(wheel_tags)))
    return found


def check_wheel_tags(python_dir: Path, target: Target, source: str) -> None:
    """Every installed wheel must carry a tag the target loads: the last guard against a wrong-platform wheel."""
    wrong = [d for d in installed_dists(python_dir) if not target.accepts(d.tags)]
    if wrong:
        listed = "; ".join(f"{d.name} {d.version} ({', '.join(str(t) for t in d.tags) or 'no tags'})"
                           for d in wrong)
        message = (
            f"The dependency layer from {source} would hold wheels that {target.describe()} cannot load: "
            f"{listed}. {_searched(target)} Check `pip-args` for options that override the target."
        )
        raise DependencyError(message)


# ---------------------------------------------------------------------------------------------- slimming


def _edges(dist: InstalledDist, extras: Iterable[str], env: Mapping[str, str]) -> list[Requirement]:
    wanted = ("", *sorted(extras))
    return [r for r in dist.requires
            if r.marker is None or any(r.marker.evaluate({**env, "extra": e}) for e in wanted)]


def excluded_dists(dists: Sequence[InstalledDist], exclude: Iterable[str], roots: Iterable[str],
                   target: Target) -> set[str]:
    """The packages `exclude-packages` removes: the excluded ones and whatever only they need.

    A package stays when the project asks for it itself, or when a kept package needs it (through any path
    that does not pass through an excluded package: the runtime provides those and their dependencies).
    """
    env = dict(target.marker_environment)
    by_name = {d.name: d for d in dists}
    excluded = {canonicalize_name(n) for n in exclude} & set(by_name)
    if not excluded:
        return set()
    asked: dict[str, set[str]] = {}
    for dist in dists:
        for req in dist.requires:
            asked.setdefault(canonicalize_name(req.name), set()).update(canonicalize_name(e) for e in req.extras)

    def closure(start: Iterable[str], blocked: set[NormalizedName]) -> set[str]:
        seen: set[str] = set()
        todo = [n for n in start if n in by_name and n not in blocked]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for req in _edges(by_name[name], asked.get(name, set()), env):
                dep = canonicalize_name(req.name)
                if dep in by_name and dep not in blocked and dep not in seen:
                    todo.append(dep)
        return seen

    candidates = closure(excluded, set())
    keepers = (set(by_name) - candidates) | ({canonicalize_name(r) for r in roots} - excluded)
    needed = closure(keepers, excluded)
    return candidates - needed


def _remove_dist(python_dir: Path, dist: InstalledDist) -> None:
    record = dist.dist_info / "RECORD"
    if record.is_file():
        base = python_dir.resolve()
        for row in record.read_text("utf-8", errors="replace").splitlines():
            rel = row.rsplit(",", 2)[0].strip('"') if row.count(",") >= 2 else row
            path = (python_dir / rel).resolve()
            if rel and path.is_relative_to(base) and path.is_file():
                path.unlink()
    shutil.rmtree(dist.dist_info, ignore_errors=True)


def _prune_empty_dirs(python_dir: Path) -> None:
    for dirpath, _dirnames, _files in sorted(os.walk(python_dir, topdown=False), reverse=True):
        path = Path(dirpath)
        if path != python_dir and not any(path.iterdir()):
            path.rmdir()


def _drop_local_direct_urls(python_dir: Path) -> None:
    """pip records a wheel built here by its scratch path (direct_url.json): never layer content."""
    for info in python_dir.glob("*.dist-info"):
        direct = info / "direct_url.json"
        if direct.is_file() and '"file:' in direct.read_text("utf-8", errors="replace"):
            direct.unlink()
            record = info / "RECORD"
            if record.is_file():
                prefix = f"{info.name}/direct_url.json,"
                rows = [r for r in record.read_text("utf-8").splitlines() if not r.startswith(prefix)]
                record.write_text("\n".join(rows) + "\n", "utf-8")


def _drop_records_outside(python_dir: Path) -> None:
    """Drops RECORD rows for files outside `python/` (the console scripts removed above).

    Their hashes cover a shebang naming the build interpreter, so keeping them would make the layer's bytes
    depend on where the build environment lives.
    """
    for record in python_dir.glob("*.dist-info/RECORD"):
        rows = record.read_text("utf-8").splitlines()
        kept = [r for r in rows if not r.startswith("../")]
        if kept != rows:
            record.write_text("\n".join(kept) + "\n", "utf-8")


def _matcher(patterns: Sequence[str]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _exclude_packages(python_dir: Path, settings: DependencyConfig, target: Target, roots: Iterable[str],
                      log: Reporter | None) -> None:
    dists = installed_dists(python_dir)
    removed = excluded_dists(dists, settings.exclude_packages, roots, target)
    for dist in dists:
        if dist.name in removed:
            _remove_dist(python_dir, dist)
    if log is None:
        return
    if removed:
        log.info(f"Left out of the dependency layer (exclude-packages): {', '.join(sorted(removed))}.")
    absent = sorted(set(settings.exclude_packages) - {d.name for d in dists})
    if absent:
        log.debug(f"exclude-packages: not in the layer anyway: {', '.join(absent)}.")


def _exclude_patterns(python_dir: Path, patterns: Sequence[str]) -> None:
    spec = _matcher(patterns)
    # Deepest paths first, so a matched directory is removed after (or instead of) its contents.
    for path in sorted(python_dir.rglob("*"), reverse=True):
        if not path.exists():
            continue
        rel = path.relative_to(python_dir).as_posix() + ("/" if path.is_dir() else "")
        if spec.match_file(rel):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def slim(python_dir: Path, settings: DependencyConfig, target: Target, roots: Iterable[str] = (),
         log: Reporter | None = None) -> None:
    """Removes what the runtime never needs: excluded packages, bytecode caches, pattern matches, pip leftovers."""
    # pip --target leaves a `bin/` of console scripts whose shebang names the build host's interpreter.
    shutil.rmtree(python_dir / "bin", ignore_errors=True)
    _drop_records_outside(python_dir)
    _drop_local_direct_urls(python_dir)
    if settings.exclude_packages:
        _exclude_packages(python_dir, settings, target, roots, log)
    if settings.strip_bytecode:
        for cache in sorted(python_dir.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache, ignore_errors=True)
        for pyc in python_dir.rglob("*.py[co]"):
            pyc.unlink(missing_ok=True)
    if settings.exclude_patterns:
        _exclude_patterns(python_dir, settings.exclude_patterns)
    if not settings.keep_dist_info:
        for info in python_dir.glob("*.dist-info"):
            shutil.rmtree(info)
    _prune_empty_dirs(python_dir)
