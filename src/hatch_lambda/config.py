"""Parses `[tool.hatch.build.targets.lambda]` into frozen dataclasses, reporting every problem at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, TypeVar

from packaging.utils import canonicalize_name

from hatch_lambda.errors import ConfigError, ConfigTypeError
from hatch_lambda.runtimes import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_RUNTIME, RUNTIMES

TABLE = "tool.hatch.build.targets.lambda"
DEPS_LAYER = "deps"
DEFAULT_BINARY_LAYER = "bin"
MAX_LAYERS = 5
# The target's versions (`hatch build -t lambda:function`, `lambda:layers`), i.e. the parts a build makes.
PART_FUNCTION = "function"
PART_LAYERS = "layers"

# Keys hatchling itself reads from any target table; they configure the function zip's file selection
# and the build environment, so we accept them untouched.
HATCHLING_KEYS = frozenset({
    "artifacts", "bypass-selection", "dependencies", "dev-mode-dirs", "dev-mode-exact", "directory",
    "exclude", "force-include", "hooks", "ignore-vcs", "include", "only-include", "only-packages",
    "packages", "reproducible", "require-runtime-dependencies", "require-runtime-features",
    "skip-excluded-dirs", "sources", "versions",
})

# Names people reach for that Lambda spells differently.
_ALIASES = {"aarch64": "arm64", "arm": "arm64", "graviton": "arm64", "amd64": "x86_64", "x86-64": "x86_64",
            "x64": "x86_64"}
_HANDLER_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_LAYER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class BinaryLayerConfig:
    """A user-declared layer of files: project path -> path inside the layer (i.e. under /opt)."""

    name: str
    paths: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DependencyConfig:
    """What goes into the dependency layer and how it is slimmed."""

    enabled: bool = True
    lock: str | None = None
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    exclude_packages: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    strip_bytecode: bool = True
    keep_dist_info: bool = True
    pip_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class LambdaConfig:
    """The validated lambda target configuration; the build never looks at raw TOML again."""

    runtime: str = DEFAULT_RUNTIME
    architecture: str = DEFAULT_ARCHITECTURE
    handler: str | None = None
    dependencies: DependencyConfig = field(default_factory=DependencyConfig)
    binary_layers: tuple[BinaryLayerConfig, ...] = ()
    layer_order: tuple[str, ...] = (DEPS_LAYER,)
    store: str | None = None
    force_rebuild: bool = False


OUR_KEYS = {
    "runtime", "architecture", "handler", "layers", "layer-order", "store", "force-rebuild",
    "deps-layer", "lock", "extras", "dependency-groups", "exclude-packages", "exclude-patterns",
    "strip-bytecode", "keep-dist-info", "pip-args",
}

T = TypeVar("T")


class _Collector:
    """Accumulates problems so the user sees all of them in one error."""

    def __init__(self) -> None:
        self.type_problems: list[str] = []
        self.value_problems: list[str] = []

    def wrong_type(self, key: str, expected: str, value: object) -> None:
        self.type_problems.append(
            f"Field `{TABLE}.{key}` must be {expected}, not {type(value).__name__} {value!r}"
        )

    def bad_value(self, key: str, message: str) -> None:
        self.value_problems.append(f"Field `{TABLE}.{key}` {message}")

    def raise_if_any(self, source: str) -> None:
        if self.value_problems:
            raise ConfigError(self.type_problems + self.value_problems, source)
        if self.type_problems:
            raise ConfigTypeError(self.type_problems, source)


def _get(raw: Mapping[str, Any], key: str, kind: type[T], expected: str, default: T, c: _Collector) -> T:
    value = raw.get(key, default)
    # bool is an int subclass; neither is accepted where the other is wanted.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        c.wrong_type(key, expected, value)
        return default
    return value


def _string_list(raw: Mapping[str, Any], key: str, c: _Collector) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        c.wrong_type(key, "an array of strings", value)
        return ()
    return tuple(value)


def _choice(raw: Mapping[str, Any], key: str, choices: Mapping[str, object], default: str, c: _Collector) -> str:
    value = _get(raw, key, str, "a string", default, c)
    if value not in choices:
        hint = _ALIASES.get(value.lower()) or next(iter(difflib.get_close_matches(value, list(choices), 1, 0.85)), None)
        did_you_mean = f" (did you mean {hint!r}?)" if hint in choices else ""
        c.bad_value(key, f"must be one of {', '.join(choices)}, not {value!r}{did_you_mean}")
        return default
    return value


def _layer_path(text: str) -> str | None:
    """Normalises a path inside a layer; None when it would leave /opt."""
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute():
        # `/opt/bin` is how users think of it; accept that spelling and strip the mount point.
        if path.parts[:2] != ("/", "opt"):
            return None
        path = PurePosixPath(*path.parts[2:]) if len(path.parts) > 2 else PurePosixPath(".")
    if ".." in path.parts:
        return None
    # A trailing slash says "into this folder": a single file mapped there keeps its own name.
    folder = text.endswith(("/", "\\")) and path.as_posix() != "."
    return path.as_posix() + ("/" if folder else "")


def _project_path(text: str) -> str | None:
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not text.strip():
        return None
    return path.as_posix()


def _binary_layers(raw: Mapping[str, Any], c: _Collector) -> tuple[BinaryLayerConfig, ...]:
    value = raw.get("layers", [])
    if not isinstance(value, list):
        c.wrong_type("layers", "an array of tables ([[" + TABLE + ".layers]])", value)
        return ()
    layers: list[BinaryLayerConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        key = f"layers[{index}]"
        if not isinstance(entry, dict):
            c.wrong_type(key, "a table", entry)
            continue
        unknown = sorted(set(entry) - {"name", "paths"})
        for name in unknown:
            c.bad_value(f"{key}.{name}", "is not a known option (expected `name` or `paths`)")
        name = entry.get("name", DEFAULT_BINARY_LAYER)
        if not isinstance(name, str):
            c.wrong_type(f"{key}.name", "a string", name)
            continue
        if not _LAYER_NAME_RE.match(name):
            c.bad_value(
                f"{key}.name",
                f"must be lowercase letters, digits, `-` or `_` (at most 40), not {name!r}",
            )
            continue
        if name == DEPS_LAYER:
            c.bad_value(f"{key}.name", f"{name!r} is reserved for the dependency layer")
            continue
        if name in seen:
            c.bad_value(f"{key}.name", f"{name!r} is used by another layer; give each layer its own name")
            continue
        seen.add(name)
        paths = _layer_paths(entry.get("paths"), f"{key}.paths", c)
        if paths is not None:
            layers.append(BinaryLayerConfig(name, paths))
    return tuple(layers)


def _layer_paths(value: object, key: str, c: _Collector) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        c.bad_value(key, "is required: list the project paths to put in the layer, e.g. paths = [\"bin\"]")
        return None
    pairs: list[tuple[str, object]]
    if isinstance(value, list):
        pairs = [(v, v) if isinstance(v, str) else (repr(v), v) for v in value]
        if not all(isinstance(v, str) for v in value):
            c.wrong_type(key, "an array of strings or a table of strings", value)
            return None
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        c.wrong_type(key, "an array of strings or a table of strings", value)
        return None
    if not pairs:
        c.bad_value(key, "must name at least one path")
        return None
    result: list[tuple[str, str]] = []
    for source, destination in pairs:
        if not isinstance(destination, str):
            c.wrong_type(f"{key}.{source}", "a string (the path inside the layer)", destination)
            continue
        src = _project_path(source)
        dst = _layer_path(destination)
        if src is None:
            c.bad_value(key, f"names {source!r}, which is not a relative path inside the project")
        elif dst is None:
            c.bad_value(key, f"maps {source!r} to {destination!r}, which is outside the layer (/opt)")
        else:
            result.append((src, dst))
    return tuple(result)


def _layer_order(raw: Mapping[str, Any], known: list[str], c: _Collector) -> tuple[str, ...]:
    if "layer-order" not in raw:
        return tuple(known)
    order = _string_list(raw, "layer-order", c)
    if not order and raw.get("layer-order") != []:
        return tuple(known)
    missing = [n for n in known if n not in order]
    unknown = [n for n in order if n not in known]
    duplicated = sorted({n for n in order if order.count(n) > 1})
    if unknown:
        c.bad_value("layer-order", f"names {', '.join(map(repr, unknown))}, which is not a layer "
                    f"(layers: {', '.join(known) or 'none'})")
    if missing:
        c.bad_value("layer-order", f"leaves out {', '.join(map(repr, missing))}; list every layer once")
    if duplicated:
        c.bad_value("layer-order", f"lists {', '.join(map(repr, duplicated))} more than once")
    return order if not (unknown or missing or duplicated) else tuple(known)


def _check_each(values: tuple[str, ...], key: str, ok: Callable[[str], bool], what: str, c: _Collector) -> None:
    for value in values:
        if not ok(value):
            c.bad_value(key, f"holds {value!r}, which is not {what}")


def parse_config(raw: Mapping[str, Any], source: str = "pyproject.toml") -> LambdaConfig:
    """Validates the raw target table; raises ConfigError (ValueError) or ConfigTypeError listing every problem."""
    c = _Collector()
    for key in sorted(set(raw) - OUR_KEYS - HATCHLING_KEYS):
        hint = difflib.get_close_matches(key, sorted(OUR_KEYS | HATCHLING_KEYS), n=1)
        c.bad_value(key, "is not a known option" + (f" (did you mean `{hint[0]}`?)" if hint else ""))

    runtime = _choice(raw, "runtime", RUNTIMES, DEFAULT_RUNTIME, c)
    architecture = _choice(raw, "architecture", ARCHITECTURES, DEFAULT_ARCHITECTURE, c)

    handler: str | None = None
    if "handler" in raw:
        handler = _get(raw, "handler", str, "a string", "", c) or None
        if handler is not None and not _HANDLER_RE.match(handler):
            c.bad_value("handler", f"must look like `package.module.function`, not {handler!r}")
            handler = None

    enabled = _get(raw, "deps-layer", bool, "a boolean", True, c)
    lock = raw.get("lock")
    if lock is not None and not isinstance(lock, str):
        c.wrong_type("lock", "a string (path of a lock file)", lock)
        lock = None
    if isinstance(lock, str) and _project_path(lock) is None:
        c.bad_value("lock", f"must be a relative path inside the project, not {lock!r}")
        lock = None
    extras = _string_list(raw, "extras", c)
    groups = _string_list(raw, "dependency-groups", c)
    exclude_packages = _string_list(raw, "exclude-packages", c)
    _check_each(exclude_packages, "exclude-packages", lambda v: bool(re.match(r"^[A-Za-z0-9._-]+$", v)),
                "a project name", c)
    exclude_patterns = _string_list(raw, "exclude-patterns", c)
    _check_each(exclude_patterns, "exclude-patterns", lambda v: bool(v.strip()) and ".." not in v,
                "a glob pattern inside the layer", c)
    deps = DependencyConfig(
        enabled=enabled,
        lock=lock,
        extras=tuple(canonicalize_name(e) for e in extras),
        groups=groups,
        exclude_packages=tuple(sorted({canonicalize_name(p) for p in exclude_packages})),
        exclude_patterns=exclude_patterns,
        strip_bytecode=_get(raw, "strip-bytecode", bool, "a boolean", True, c),
        keep_dist_info=_get(raw, "keep-dist-info", bool, "a boolean", True, c),
        pip_args=_string_list(raw, "pip-args", c),
    )

    binary_layers = _binary_layers(raw, c)
    known = ([DEPS_LAYER] if enabled else []) + [layer.name for layer in binary_layers]
    order = _layer_order(raw, known, c)
    # The dependency layer only exists when the target has dependencies, which the engine decides; it checks
    # the layers it really builds. Here only what is certain: too many binary layers on their own.
    if len(binary_layers) > MAX_LAYERS:
        names = ", ".join(layer.name for layer in binary_layers)
        c.bad_value(
            "layers",
            f"declares {len(binary_layers)} binary layers ({names}); Lambda allows at most {MAX_LAYERS} per function",
        )

    store = raw.get("store")
    if store is not None and not isinstance(store, str):
        c.wrong_type("store", "a string (a directory)", store)
        store = None

    force = _get(raw, "force-rebuild", bool, "a boolean", False, c)
    c.raise_if_any(source)
    return LambdaConfig(
        runtime=runtime,
        architecture=architecture,
        handler=handler,
        dependencies=deps,
        binary_layers=binary_layers,
        layer_order=order,
        store=store,
        force_rebuild=force,
    )
