"""Runs a build plan: fingerprint each layer, reuse or build it, write the function zip, check, put in place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatch_lambda import archive, binlayer, deps, limits
from hatch_lambda.archive import Entry
from hatch_lambda.config import DEPS_LAYER, LambdaConfig
from hatch_lambda.fingerprint import FileHashCache, binary_layer_payload, files_payload, fingerprint
from hatch_lambda.manifest import KIND_BINARY, KIND_DEPS, KIND_FUNCTION, Artifact, Manifest
from hatch_lambda.reporting import Reporter
from hatch_lambda.runtimes import Target
from hatch_lambda.store import LayerStore, default_store_dir

FORCE_ENV = "HATCH_LAMBDA_FORCE_REBUILD"
PART_FUNCTION = "function"
PART_LAYERS = "layers"


@dataclass(frozen=True)
class Plan:
    """Everything a build needs, decided before any work starts."""

    name: str  # normalised for file names (hatchling's wheel-style normalisation)
    version: str
    root: Path
    output_dir: Path
    config: LambdaConfig
    function_files: tuple[Entry, ...]
    project_dependencies: deps.ProjectDependencies = field(default_factory=deps.ProjectDependencies)
    parts: frozenset[str] = frozenset({PART_FUNCTION, PART_LAYERS})
    source: str = "pyproject.toml"

    @property
    def target(self) -> Target:
        return Target.of(self.config.runtime, self.config.architecture)

    @property
    def function_zip_name(self) -> str:
        return f"{self.name}-{self.version}-function.zip"

    def layer_zip_name(self, layer: str, fp: str) -> str:
        return f"{self.name}-{layer}-{fp[:12]}.zip"

    @property
    def manifest_name(self) -> str:
        return f"{self.name}-{self.version}-lambda.json"


@dataclass
class _LayerJob:
    name: str
    kind: str
    payload: dict[str, Any]
    fingerprint: str
    entries: list[Entry] | None = None  # binary layers
    resolved: deps.ResolvedDependencies | None = None  # dependency layer


@dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    manifest_path: Path
    warnings: tuple[str, ...]

    @property
    def function_path(self) -> Path | None:
        f = self.manifest.function
        return self.manifest_path.parent / f.file if f else None


def _force_rebuild(config: LambdaConfig) -> bool:
    return config.force_rebuild or os.environ.get(FORCE_ENV, "").lower() in {"1", "true", "yes", "on"}


def store_for(plan: Plan) -> LayerStore:
    if plan.config.store:
        return LayerStore((plan.root / os.path.expanduser(plan.config.store)).resolve())
    return LayerStore(default_store_dir())


def plan_layers(plan: Plan, hashes: FileHashCache, log: Reporter) -> list[_LayerJob]:
    """Fingerprints every layer in merge order; reads no input beyond what fingerprinting needs."""
    jobs: list[_LayerJob] = []
    target = plan.target
    by_name = {layer.name: layer for layer in plan.config.binary_layers}
    for name in plan.config.layer_order:
        if name == DEPS_LAYER:
            settings = plan.config.dependencies
            resolved = deps.resolve(plan.root, plan.project_dependencies, settings, target, log)
            if resolved.empty:
                log.debug("No runtime dependencies for the target: no dependency layer.")
                continue
            payload = deps.layer_payload(resolved, target, settings)
            jobs.append(_LayerJob(name, KIND_DEPS, payload, fingerprint(payload), resolved=resolved))
        else:
            entries = binlayer.collect(by_name[name], plan.root)
            payload = binary_layer_payload(entries, hashes)
            jobs.append(_LayerJob(name, KIND_BINARY, payload, fingerprint(payload), entries=entries))
    return jobs


@contextlib.contextmanager
def _scratch(store: LayerStore) -> Iterator[Path]:
    """A private scratch directory on the store's file system (so moves into the store are cheap)."""
    store.root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="build-", dir=store.root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _build_layer(job: _LayerJob, plan: Plan, store: LayerStore, log: Reporter) -> Path:
    with _scratch(store) as scratch:
        if job.kind == KIND_DEPS:
            assert job.resolved is not None
            staging = scratch / "layer"
            log.info(f"Installing the dependency layer for {plan.target.describe()} ...")
            deps.install(job.resolved, plan.target, plan.config.dependencies, staging, log)
            entries = archive.entries_from_directory(staging)
        else:
            assert job.entries is not None
            entries = job.entries
        built = scratch / "layer.zip"
        # Layer bytes depend on their content only, never on when they were built: a fixed timestamp
        # (not SOURCE_DATE_EPOCH) lets a layer be reused across commits.
        info = archive.write_zip(built, entries, archive.DEFAULT_EPOCH)
        entry = store.put(job.fingerprint, built, job.payload, info.unzipped_size)
        return entry.zip_path


def _place(source: Path, destination: Path) -> None:
    """Puts a store entry at its output name: a hard link when possible (instant), else a copy."""
    with contextlib.suppress(OSError):
        if destination.exists() and os.path.samefile(source, destination):
            return
    with archive.atomic_path(destination) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def build(plan: Plan, log: Reporter, previous: Manifest | None = None) -> BuildResult:
    """Builds the requested parts; nothing reaches the output directory unless every check passes."""
    from hatch_lambda import manifest as manifest_mod
    from hatch_lambda.changes import describe_changes

    store = store_for(plan)
    hashes = FileHashCache(store.root / "file-hashes" / f"{fingerprint({'root': os.fspath(plan.root)})}.json")
    warnings: list[str] = []
    layers: list[Artifact] = []
    layer_sources: dict[str, Path] = {}
    out = plan.output_dir

    if PART_LAYERS in plan.parts:
        force = _force_rebuild(plan.config)
        old = {a.name: a for a in previous.layers} if previous else {}
        for job in plan_layers(plan, hashes, log):
            entry = None if force else store.lookup(job.fingerprint)
            status = "reused"
            changes: tuple[str, ...] = ()
            if entry is None:
                status = "built"
                old_payload = store.payload(old[job.name].fingerprint) if job.name in old else None
                changes = tuple(describe_changes(old_payload, job.payload, forced=force))
                _build_layer(job, plan, store, log)
                entry = store.lookup(job.fingerprint)
                if entry is None:  # pragma: no cover - the store just wrote it
                    raise RuntimeError(f"layer store lost entry {job.fingerprint}")
            file = plan.layer_zip_name(job.name, job.fingerprint)
            layers.append(Artifact(file, job.kind, job.name, entry.sha256, entry.size, entry.unzipped_size,
                                   job.fingerprint, status, changes))
            layer_sources[file] = entry.zip_path
    elif previous is not None:
        layers = [a for a in previous.layers if (out / a.file).is_file()]

    function: Artifact | None = None
    with _scratch(store) as scratch:
        function_tmp = scratch / plan.function_zip_name
        if PART_FUNCTION in plan.parts:
            if plan.config.handler:
                sources = {e.arcname: e.source for e in plan.function_files}
                limits.check_handler(plan.config.handler, _LazyBytes(sources), plan.source)
            timestamp = archive.reproducible_timestamp()
            info = archive.write_zip(function_tmp, plan.function_files, timestamp)
            fp = fingerprint({"kind": "function", "timestamp": timestamp,
                              "files": files_payload(plan.function_files, hashes)})
            sha = _sha256(function_tmp)
            function = Artifact(plan.function_zip_name, KIND_FUNCTION, "function", sha,
                                function_tmp.stat().st_size, info.unzipped_size, fp, "built")
        elif previous is not None and previous.function and (out / previous.function.file).is_file():
            function = previous.function

        warnings += limits.check_sizes(
            _sized(function), [_sized(layer) for layer in layers if layer is not None]  # type: ignore[misc]
        )
        warnings += limits.check_overlaps({
            layer.name: archive.zip_names(layer_sources.get(layer.file, out / layer.file)) for layer in layers
        })

        # Every check passed: now, and only now, touch the output directory.
        out.mkdir(parents=True, exist_ok=True)
        for file, source in layer_sources.items():
            _place(source, out / file)
        if PART_FUNCTION in plan.parts and function is not None:
            with archive.atomic_path(out / function.file) as tmp:
                shutil.copyfile(function_tmp, tmp)
    hashes.save()

    manifest = Manifest(
        name=plan.name,
        version=plan.version,
        runtime=plan.config.runtime,
        python_version=plan.target.runtime.python_version,
        architecture=plan.config.architecture,
        handler=plan.config.handler,
        function=function,
        layers=tuple(layers),
    )
    manifest_path = out / plan.manifest_name
    manifest_mod.write(manifest_path, manifest)
    return BuildResult(manifest, manifest_path, tuple(warnings))


def _sized(artifact: Artifact | None) -> limits.Sized | None:
    if artifact is None:
        return None
    return limits.Sized(artifact.file, artifact.size, artifact.unzipped_size)


def _sha256(path: Path) -> str:
    from hatch_lambda.fingerprint import file_sha256

    return file_sha256(path)


class _LazyBytes(dict[str, "bytes | None"]):
    """Maps zip paths to file bytes, reading a file only when the handler check asks for it."""

    def __init__(self, sources: dict[str, Path]) -> None:
        super().__init__(dict.fromkeys(sources))
        self._sources = sources

    def __getitem__(self, key: str) -> bytes | None:
        return self._sources[key].read_bytes()
