"""The Lambda runtime table: Python version, OS, glibc, wheel tags and marker environment per target."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from packaging import tags

# glibc of each Amazon Linux generation (aws-lambda-builders and CDK source; see shared/LAMBDA.md).
_AL2_GLIBC = (2, 26)
_AL2023_GLIBC = (2, 34)

# Legacy manylinux names are aliases of a glibc floor (PEP 600); pip treats them as separate tags.
_LEGACY_ALIASES = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
# manylinux2010 and manylinux1 were only ever defined for x86 architectures.
_LEGACY_ARCHES = {"manylinux2014": ("x86_64", "aarch64"), "manylinux2010": ("x86_64",), "manylinux1": ("x86_64",)}
_OLDEST_MANYLINUX_MINOR = 17


@dataclass(frozen=True)
class Runtime:
    """One Python runtime of AWS Lambda."""

    name: str
    python: tuple[int, int]
    os: str
    glibc: tuple[int, int]
    deprecated: str | None = None

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        # AWS deprecates python3.10 on 2026-10-31 (its runtimes page); builds still work, with a warning.
        Runtime("python3.10", (3, 10), "Amazon Linux 2", _AL2_GLIBC, deprecated="2026-10-31"),
        Runtime("python3.11", (3, 11), "Amazon Linux 2", _AL2_GLIBC),
        Runtime("python3.12", (3, 12), "Amazon Linux 2023", _AL2023_GLIBC),
        Runtime("python3.13", (3, 13), "Amazon Linux 2023", _AL2023_GLIBC),
        Runtime("python3.14", (3, 14), "Amazon Linux 2023", _AL2023_GLIBC),
    )
}
DEFAULT_RUNTIME = "python3.12"

# Lambda's architecture name -> the machine name in wheel tags, `uname -m` and `platform_machine`.
ARCHITECTURES: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}
DEFAULT_ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class Target:
    """A runtime on an architecture: everything that decides which wheels a layer may hold."""

    runtime: Runtime
    architecture: str

    @classmethod
    def of(cls, runtime: str, architecture: str) -> Target:
        return cls(RUNTIMES[runtime], architecture)

    @property
    def machine(self) -> str:
        return ARCHITECTURES[self.architecture]

    @property
    def abi(self) -> str:
        major, minor = self.runtime.python
        return f"cp{major}{minor}"

    @cached_property
    def platform_tags(self) -> tuple[str, ...]:
        """Every platform tag the runtime's glibc and machine load, newest first (pip prefers earlier ones)."""
        major, newest = self.runtime.glibc
        found: list[str] = []
        for minor in range(newest, _OLDEST_MANYLINUX_MINOR - 1, -1):
            found.append(f"manylinux_{major}_{minor}_{self.machine}")
        for (_, minor), legacy in sorted(_LEGACY_ALIASES.items(), reverse=True):
            if self.machine not in _LEGACY_ARCHES[legacy]:
                continue
            if minor < _OLDEST_MANYLINUX_MINOR:
                found.append(f"manylinux_{major}_{minor}_{self.machine}")
            found.append(f"{legacy}_{self.machine}")
        return tuple(found)

    @cached_property
    def abis(self) -> tuple[str, ...]:
        return (self.abi, "abi3", "none")

    @cached_property
    def tag_priority(self) -> tuple[tags.Tag, ...]:
        """Every wheel tag the target accepts, most preferred first, computed by packaging.tags for the
        target (never the host): cp3X/abi3/none on the manylinux tags, then pure-Python tags."""
        ordered = list(tags.cpython_tags(self.runtime.python, [self.abi], self.platform_tags))
        ordered += tags.compatible_tags(self.runtime.python, self.abi, self.platform_tags)
        return tuple(dict.fromkeys(ordered))

    @cached_property
    def supported_tags(self) -> frozenset[tags.Tag]:
        """The set form of `tag_priority`: a wheel loads on the target when one of its tags is in here."""
        return frozenset(self.tag_priority)

    def accepts(self, wheel_tags: Iterable[tags.Tag]) -> bool:
        """Whether a wheel with these tags (one compressed tag set) loads on the target."""
        return any(tag in self.supported_tags for tag in wheel_tags)

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker environment of the Lambda runtime (linux, the target machine, its Python)."""
        version = f"{self.runtime.python_version}.0"
        return {
            "implementation_name": "cpython",
            "implementation_version": version,
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": version,
            "python_version": self.runtime.python_version,
            "sys_platform": "linux",
        }

    def describe(self) -> str:
        return f"{self.runtime.name} on {self.architecture} ({self.runtime.os}, glibc {self.glibc_text})"

    @property
    def glibc_text(self) -> str:
        return "{}.{}".format(*self.runtime.glibc)
