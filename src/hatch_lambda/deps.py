"""The dependency layer: which requirements go in, the pip command for the target, and slimming."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.dependency_groups import resolve_dependency_groups
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from hatch_lambda.archive import ARCHIVE_FORMAT_VERSION
from hatch_lambda.config import TABLE, DependencyConfig
from hatch_lambda.errors import DependencyError
from hatch_lambda.fingerprint import FINGERPRINT_VERSION
from hatch_lambda.reporting import Reporter
from hatch_lambda.runtimes import Target


@dataclass(frozen=True)
class ProjectDependencies:
    """What pyproject.toml declares, as hatchling read it."""

    dependencies: tuple[str, ...] = ()
    optional: Mapping[str, Sequence[str]] = field(default_factory=dict)
    groups: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedDependencies:
    """The requirement lines pip will install, already evaluated for the target's markers."""

    source: str  # the file they came from, e.g. "uv.lock" or "pyproject.toml"
    locked: bool
    requirements: tuple[str, ...]
    hashed: bool = False

    @property
    def empty(self) -> bool:
        return not self.requirements

    def payload(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "locked": self.locked,
            "hashed": self.hashed,
            "requirements": list(self.requirements),
        }


def installer_identity() -> dict[str, str]:
    """Name and version of the installer; a pip upgrade may pick other wheels, so it is fingerprinted."""
    from importlib.metadata import version

    return {"name": "pip", "version": version("pip")}


def _target_requirements(lines: Sequence[str], target: Target, origin: str) -> list[str]:
    kept: list[str] = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            raise DependencyError(f"{origin}: the requirement {line!r} is not valid: {e}") from e
        if req.marker is not None and not req.marker.evaluate(dict(target.marker_environment)):
            continue
        req.marker = None
        kept.append(str(req))
    return kept


def declared_requirements(project: ProjectDependencies, settings: DependencyConfig, target: Target) -> list[str]:
    """[project].dependencies plus the configured extras and dependency groups, for the target's markers."""
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
    kept = _target_requirements(lines, target, "pyproject.toml")
    return sorted(dict.fromkeys(kept))


def resolve(
    root: Path, project: ProjectDependencies, settings: DependencyConfig, target: Target, log: Reporter
) -> ResolvedDependencies:
    """Reads what the layer must hold; cheap (no network, no installer), so it runs on every build."""
    requirements = declared_requirements(project, settings, target)
    if requirements:
        log.warn(
            "The dependency layer is built from pyproject.toml's declared dependencies, not a lock file: it is "
            "not reproducible until you lock it (pylock.toml, uv.lock, poetry.lock or a pinned requirements.txt)."
        )
    return ResolvedDependencies("pyproject.toml", False, tuple(requirements))


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


def pip_command(requirements_file: Path, target_dir: Path, target: Target, settings: DependencyConfig,
                hashed: bool) -> list[str]:
    """The one place the pip command line is built: target tags only, never the host's."""
    cmd = [
        sys.executable, "-m", "pip", "install",
        "--target", str(target_dir),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", target.runtime.python_version,
    ]
    for abi in target.abis:
        cmd += ["--abi", abi]
    for tag in target.platform_tags:
        cmd += ["--platform", tag]
    if hashed:
        cmd.append("--require-hashes")
    cmd += list(settings.pip_args)
    cmd += ["-r", str(requirements_file)]
    return cmd


def install(resolved: ResolvedDependencies, target: Target, settings: DependencyConfig, staging: Path,
            log: Reporter) -> None:
    """Installs the requirements under `staging/python` for the target and slims the result."""
    python_dir = staging / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    req_file = staging.parent / f"{staging.name}-requirements.txt"
    req_file.write_text("\n".join(resolved.requirements) + "\n", "utf-8")
    cmd = pip_command(req_file, python_dir, target, settings, resolved.hashed)
    log.debug("Running: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        message = (
            f"pip could not install the dependency layer for {target.describe()} from {resolved.source}. "
            f"Searched platform tags: {', '.join(target.platform_tags)}; ABIs: {', '.join(target.abis)}.\n{tail}"
        )
        raise DependencyError(message)
    slim(python_dir, settings)


def slim(python_dir: Path, settings: DependencyConfig) -> None:
    """Removes what the runtime never needs: bytecode caches; pip's own leftovers."""
    if settings.strip_bytecode:
        for cache in sorted(python_dir.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache, ignore_errors=True)
        for pyc in python_dir.rglob("*.py[co]"):
            pyc.unlink(missing_ok=True)
    # pip --target leaves a `bin/` of console scripts whose shebang names the build host's interpreter.
    shutil.rmtree(python_dir / "bin", ignore_errors=True)


def marker_matches(marker: str, target: Target) -> bool:
    return Marker(marker).evaluate(dict(target.marker_environment))
