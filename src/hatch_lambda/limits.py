"""Lambda's hard limits (errors) and soft ones (warnings), checked before any artifact is put in place."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hatch_lambda.config import MAX_LAYERS, TABLE
from hatch_lambda.errors import HandlerError, LimitError

MAX_UNZIPPED_BYTES = 262_144_000  # 250 MB, as the Lambda API error states it
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Sized:
    """What the checks need to know of an artifact."""

    file: str
    size: int
    unzipped_size: int


def check_sizes(function: Sized | None, layers: Sequence[Sized]) -> list[str]:
    """Raises LimitError past the hard limits; returns warnings for the soft ones."""
    if len(layers) > MAX_LAYERS:
        names = ", ".join(layer.file for layer in layers)
        message = (
            f"The build has {len(layers)} layers ({names}); Lambda allows at most {MAX_LAYERS} per function. "
            f"Merge binary layers or remove one (`{TABLE}.layers`)."
        )
        raise LimitError(message)
    parts = ([function] if function else []) + list(layers)
    total = sum(p.unzipped_size for p in parts)
    if function is not None and total > MAX_UNZIPPED_BYTES:
        detail = ", ".join(f"{p.file} {p.unzipped_size:,}" for p in sorted(parts, key=lambda p: -p.unzipped_size))
        message = (
            f"The function and its layers unzip to {total:,} bytes, over Lambda's limit of "
            f"{MAX_UNZIPPED_BYTES:,} bytes (250 MB) for a function and all its layers ({detail}). "
            f"Slim the dependency layer (`{TABLE}.exclude-packages`, `exclude-patterns`) or ship a container image."
        )
        raise LimitError(message)
    warnings = []
    for part in parts:
        if part.size > MAX_DIRECT_UPLOAD_BYTES:
            warnings.append(
                f"{part.file} is {part.size:,} bytes zipped, over the {MAX_DIRECT_UPLOAD_BYTES:,} bytes Lambda "
                f"accepts in a direct upload; upload it through S3."
            )
    return warnings


def check_overlaps(layer_files: Mapping[str, Sequence[str]]) -> list[str]:
    """Warns about paths shipped by two layers: on Lambda the later layer's file wins."""
    owner: dict[str, str] = {}
    clashes: dict[tuple[str, str], list[str]] = {}
    for layer, names in layer_files.items():  # in merge order
        for name in names:
            if name.endswith("/"):
                continue
            if name in owner:
                clashes.setdefault((owner[name], layer), []).append(name)
            owner[name] = layer
    warnings = []
    for (earlier, later), names in clashes.items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        warnings.append(
            f"Layers {earlier!r} and {later!r} both ship {shown}; on Lambda the later layer ({later!r}) wins."
        )
    return warnings


def _binds(node: ast.stmt, name: str) -> bool:
    """Whether a module-level statement binds `name` (a star import might: it counts as yes)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    return False


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at import: the body plus the branches of module-level if/try/with/for/while/match."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, (ast.If, ast.For, ast.While)):
            found += _module_level(node.body) + _module_level(node.orelse)
        elif isinstance(node, ast.With):
            found += _module_level(node.body)
        elif isinstance(node, ast.Try):
            found += _module_level(node.body) + _module_level(node.orelse) + _module_level(node.finalbody)
            for handler in node.handlers:
                found += _module_level(handler.body)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                found += _module_level(case.body)
    return found


def _defines(tree: ast.Module, name: str) -> bool:
    return any(_binds(node, name) for node in _module_level(tree.body))


def check_handler(handler: str, sources: Mapping[str, bytes | None], source: str = "pyproject.toml") -> None:
    """The handler's module must be in the function zip and define the function at module level.

    `sources` maps each zip path to a reader of its bytes (None when the file is absent). The module is
    parsed, never imported: importing would run user code and need the layers.
    """
    module, _, func = handler.rpartition(".")
    base = module.replace(".", "/")
    candidates = [f"{base}.py", f"{base}/__init__.py"]
    found = next((c for c in candidates if c in sources), None)
    if found is None:
        shipped = sorted(n for n in sources if n.endswith(".py"))[:10]
        message = (
            f"{source}: Field `{TABLE}.handler` is {handler!r}, but the function zip has no module {module!r} "
            f"(looked for {' or '.join(candidates)}; the zip holds {', '.join(shipped) or 'no Python files'}). "
            f"Fix the handler or the file selection (`packages`, `only-include`, `sources`)."
        )
        raise HandlerError(message)
    data = sources[found] or b""
    try:
        tree = ast.parse(data, filename=found)
    except SyntaxError as e:
        message = f"{source}: Field `{TABLE}.handler` is {handler!r}, but {found} does not parse: {e}"
        raise HandlerError(message) from e
    if not _defines(tree, func):
        message = (
            f"{source}: Field `{TABLE}.handler` is {handler!r}, but {found} in the function zip "
            f"does not define {func!r} at module level."
        )
        raise HandlerError(message)
