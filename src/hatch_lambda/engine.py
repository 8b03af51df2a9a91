"""Runs a build plan: fingerprint each layer, reuse or build it, write the function zip, check, put in place."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hatch_lambda.fingerprint as fingerprint_module
from hatch_lambda import archive, binlayer, deps, limits, runtimes
from hatch_lambda.archive import Entry
from hatch_lambda.config import DEPS_LAYER, PART_FUNCTION, PART_LAYERS, LambdaConfig
from hatch_lambda.errors import DependencyError
from hatch_lambda.fingerprint import (
    FileHashCache,
    binary_layer_payload,
    file_sha256,
    fingerprint,
    function_payload,
)
from hatch_lambda.manifest import KIND_BINARY, KIND_DEPS, KIND_FUNCTION, Artifact, Manifest
from hatch_lambda.reporting import Reporter
from hatch_lambda.runtimes import Target
from hatch_lambda.store import LayerStore, StoreEntry, store_dir

FORCE_ENV = "HATCH_LAMBDA_FORCE_REBUILD"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FP12 = re.compile(r"^[0-9a-f]{12}$")
_DEPS_MEMO = "dependency-layer"


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
    removed: tuple[Path, ...] = ()  # stale layer zips this build removed from the output directory

    @property
    def function_path(self) -> Path | None:
        f = self.manifest.function
        return self.manifest_path.parent / f.file if f else None


def force_reason(config: LambdaConfig, environ: dict[str, str] | None = None) -> str | None:
    """Why every layer must be rebuilt whatever the store holds, or None when it need not be."""
    env = os.environ if environ is None else environ
    if env.get(FORCE_ENV, "").strip().lower() in _TRUE:
        return f"{FORCE_ENV}={env[FORCE_ENV]}"
    if config.force_rebuild:
        return "force-rebuild = true"
    return None


def store_for(plan: Plan, environ: Mapping[str, str] | None = None) -> LayerStore:
    """$HATCH_LAMBDA_STORE, else the `store` key (relative to the project), else the user's cache directory.

    The environment wins so a CI job can point every project at the directory it caches between runs.
    """
    return LayerStore(store_dir(plan.root, plan.config.store, environ))


def hash_cache_for(store: LayerStore, root: Path) -> FileHashCache:
    """One file-hash cache per project directory, kept beside the store (never in a fingerprint)."""
    key = hashlib.sha256(os.fsencode(root)).hexdigest()[:24]
    return FileHashCache(store.root / "file-hashes" / f"{key}.json")


class _Recorder:
    """Passes messages on and keeps the warnings, so a remembered result can repeat them."""

    def __init__(self, log: Reporter) -> None:
        self.log = log
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        self.log.info(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.log.warn(message)

    def debug(self, message: str) -> None:
        self.log.debug(message)


def _stat_key(path: Path | str | None) -> list[Any]:
    try:
        st = os.stat(path) if path else None
    except OSError:
        st = None
    return [os.fspath(path or ""), st.st_size, st.st_mtime_ns] if st else [os.fspath(path or ""), None, None]


def _deps_memo_key(plan: Plan, hashes: FileHashCache) -> str | None:
    """A hash of everything `deps.resolve` and `deps.layer_payload` read, or None when that is not known.

    Parsing a lock with tomllib and asking importlib.metadata for pip's version cost more than the rest of
    a warm build together; their result is remembered under this key. The key holds the lock's content
    hash (from the file-hash cache: one stat), the declared dependencies, the settings, the target, and
    the size and mtime of the code that computes the payload and of pip itself, so an upgrade of either
    recomputes it. A requirements file may include others (`-r`), so it is always read afresh.
    """
    import importlib.util

    from hatch_lambda import locks

    settings = plan.config.dependencies
    lock = locks.find_lock(plan.root, settings.lock)
    if lock is not None and locks.lock_kind(lock) == locks.KIND_REQUIREMENTS:
        return None
    spec = importlib.util.find_spec("pip")
    project = plan.project_dependencies
    try:
        key = fingerprint({
            "lock": [lock.relative_to(plan.root).as_posix(), hashes.sha256(lock)] if lock else None,
            "dependencies": list(project.dependencies),
            "optional": {k: list(v) for k, v in project.optional.items()},
            "groups": json.loads(json.dumps(dict(project.groups))),
            "settings": json.loads(json.dumps(dataclasses.asdict(settings))),
            "target": [plan.config.runtime, plan.config.architecture],
            "code": [_stat_key(m.__file__)
                     for m in (deps, locks, runtimes, archive, fingerprint_module, sys.modules[__name__])],
            "pip": _stat_key(spec.origin if spec else None),
        })
    except (OSError, TypeError, ValueError):
        return None
    return key


def _resolve_deps(plan: Plan, log: Reporter) -> tuple[_LayerJob | None, list[str]]:
    settings = plan.config.dependencies
    recorder = _Recorder(log)
    resolved = deps.resolve(plan.root, plan.project_dependencies, settings, plan.target, recorder)
    if resolved.empty:
        return None, recorder.warnings
    payload = deps.layer_payload(resolved, plan.target, settings)
    return _LayerJob(DEPS_LAYER, KIND_DEPS, payload, fingerprint(payload), resolved=resolved), recorder.warnings


def _deps_job(plan: Plan, hashes: FileHashCache, log: Reporter) -> _LayerJob | None:
    """The dependency layer's job; its payload comes from the memo when nothing it depends on changed."""
    key = _deps_memo_key(plan, hashes)
    memo = hashes.memo(_DEPS_MEMO)
    if key is not None and isinstance(memo, dict) and memo.get("key") == key:
        for warning in memo.get("warnings", []):
            log.warn(str(warning))
        payload = memo.get("payload")
        if not isinstance(payload, dict):
            return None
        return _LayerJob(DEPS_LAYER, KIND_DEPS, payload, fingerprint(payload))
    job, warnings = _resolve_deps(plan, log)
    if key is not None:
        hashes.remember(_DEPS_MEMO, {"key": key, "warnings": warnings, "payload": job.payload if job else None})
    return job


def plan_layers(plan: Plan, hashes: FileHashCache, log: Reporter) -> list[_LayerJob]:
    """Fingerprints every layer in merge order; reads no input beyond what fingerprinting needs."""
    jobs: list[_LayerJob] = []
    by_name = {layer.name: layer for layer in plan.config.binary_layers}
    for name in plan.config.layer_order:
        if name == DEPS_LAYER:
            job = _deps_job(plan, hashes, log)
            if job is None:
                log.debug("No runtime dependencies for the target: no dependency layer.")
                continue
            jobs.append(job)
        else:
            entries = binlayer.collect(by_name[name], plan.root)
            payload = binary_layer_payload(entries, hashes)
            jobs.append(_LayerJob(name, KIND_BINARY, payload, fingerprint(payload), entries=entries))
    return jobs


class _Quiet(_Recorder):
    """Drops warnings the memo already repeated."""

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _build_layer(
    job: _LayerJob, plan: Plan, store: LayerStore, scratch: Path, log: Reporter
) -> tuple[Path, StoreEntry]:
    """Builds a layer zip in `scratch` and stores it; the built file stays (a hard link of the entry).

    The output directory gets the built file, not the store's path, so a build running at the same
    time that replaces or drops the entry cannot take this build's layer away.
    """
    work = Path(tempfile.mkdtemp(prefix=f"{job.name}-", dir=scratch))
    if job.resolved is not None:
        staging = work / "layer"
        log.info(f"Installing the dependency layer for {plan.target.describe()} ...")
        try:
            deps.install(job.resolved, plan.target, plan.config.dependencies, staging, log)
        except DependencyError as e:
            message = (
                f"{e}\n(The dependency layer {job.fingerprint[:12]} is not in the layer store {store.root}, so "
                "it had to be installed; a build whose layers are all in the store needs no package index.)"
            )
            raise DependencyError(message) from e
        entries = archive.entries_from_directory(staging)
    else:
        entries = job.entries or []
    built = work / "layer.zip"
    # Layer bytes depend on their content only, never on when they were built: a fixed timestamp
    # (not SOURCE_DATE_EPOCH) lets a layer be reused across commits.
    info = archive.write_zip(built, entries, archive.DEFAULT_EPOCH)
    names = sorted(e.arcname for e in entries)
    entry = store.put(job.fingerprint, built, job.payload, info.unzipped_size, names)
    if job.resolved is not None:
        shutil.rmtree(work / "layer", ignore_errors=True)  # free the staging space before the next layer
    return built, entry


def _place(source: Path, destination: Path) -> None:
    """Puts a layer zip at its output name: nothing when already there, else a hard link, else a copy.

    A copy (store on another file system) keeps the entry's mtime, so the next build sees it in place
    with one stat, as the store itself trusts size and mtime.
    """
    with contextlib.suppress(OSError):
        dst = destination.stat()
        src = source.stat()
        if (dst.st_dev, dst.st_ino) == (src.st_dev, src.st_ino) or (
            dst.st_size == src.st_size and dst.st_mtime_ns == src.st_mtime_ns
        ):
            return
    with archive.atomic_path(destination) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)


@contextlib.contextmanager
def _output_temp(out: Path, name: str) -> Iterator[Path]:
    """A temp file in the output directory (hidden, removed on any failure) for the function zip."""
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _same_file_bytes(path: Path, size: int, sha: str) -> bool:
    try:
        return path.stat().st_size == size and file_sha256(path) == sha
    except OSError:
        return False


def _layers(
    plan: Plan,
    store: LayerStore,
    hashes: FileHashCache,
    previous: Manifest | None,
    log: Reporter,
    stack: contextlib.ExitStack,
) -> tuple[list[Artifact], dict[str, Path], dict[str, StoreEntry]]:
    """Reuses or builds every layer; returns artifacts, where each zip is, and the store entries."""
    forced = force_reason(plan.config)
    old = {a.name: a for a in previous.layers} if previous else {}
    layers: list[Artifact] = []
    sources: dict[str, Path] = {}
    entries: dict[str, StoreEntry] = {}
    scratch: Path | None = None
    for planned in plan_layers(plan, hashes, log):
        job = planned
        entry = None if forced else store.lookup(job.fingerprint)
        status = "reused"
        changes: tuple[str, ...] = ()
        file = plan.layer_zip_name(job.name, job.fingerprint)
        if entry is None and job.kind == KIND_DEPS and job.resolved is None:
            # The payload came from the memo; a layer is only ever built from a fresh resolution.
            fresh, _ = _resolve_deps(plan, _Quiet(log))
            if fresh is None:  # pragma: no cover - the memo said there were dependencies
                continue
            job = fresh
            file = plan.layer_zip_name(job.name, job.fingerprint)
            entry = None if forced else store.lookup(job.fingerprint)
        if entry is not None:
            source = entry.zip_path
        else:
            from hatch_lambda.changes import describe_changes

            status = "built"
            previous_fp = old[job.name].fingerprint if job.name in old else None
            old_payload = store.payload(previous_fp) if previous_fp else None
            changes = tuple(describe_changes(old_payload, job.payload, forced=forced,
                                             previous_fingerprint=previous_fp, fingerprint=job.fingerprint))
            if scratch is None:
                store.sweep()
                scratch = stack.enter_context(store.scratch())
            source, entry = _build_layer(job, plan, store, scratch, log)
        layers.append(Artifact(file, job.kind, job.name, entry.sha256, entry.size, entry.unzipped_size,
                               job.fingerprint, status, changes))
        sources[file] = source
        entries[file] = entry
    return layers, sources, entries


def _layer_names(artifact: Artifact, sources: dict[str, Path], entries: dict[str, StoreEntry], out: Path) -> list[str]:
    entry = entries.get(artifact.file)
    if entry is not None and entry.names is not None:
        return list(entry.names)
    return archive.zip_names(sources.get(artifact.file, out / artifact.file))


def build(plan: Plan, log: Reporter, previous: Manifest | None = None) -> BuildResult:
    """Builds the requested parts; nothing reaches the output directory unless every check passes."""
    store = store_for(plan)
    hashes = hash_cache_for(store, plan.root)
    warnings: list[str] = []
    out = plan.output_dir
    layers: list[Artifact] = []
    sources: dict[str, Path] = {}
    entries: dict[str, StoreEntry] = {}

    with contextlib.ExitStack() as stack:
        if PART_LAYERS in plan.parts:
            layers, sources, entries = _layers(plan, store, hashes, previous, log, stack)
        elif previous is not None:
            # A function-only build keeps the layers already in place, recorded as the build that made them.
            layers = [a for a in previous.layers if (out / a.file).is_file()]

        function: Artifact | None = None
        function_tmp: Path | None = None
        if PART_FUNCTION in plan.parts:
            if plan.config.handler:
                paths = {e.arcname: e.source for e in plan.function_files}
                limits.check_handler(plan.config.handler, _LazyBytes(paths), plan.source)
            function_tmp = stack.enter_context(_output_temp(out, plan.function_zip_name))
            timestamp = archive.reproducible_timestamp()
            info = archive.write_zip(function_tmp, plan.function_files, timestamp)
            fp = fingerprint(function_payload(plan.function_files, hashes, timestamp))
            function = Artifact(plan.function_zip_name, KIND_FUNCTION, "function", file_sha256(function_tmp),
                                function_tmp.stat().st_size, info.unzipped_size, fp, "built")
        elif previous is not None and previous.function and (out / previous.function.file).is_file():
            function = previous.function

        warnings += limits.check_sizes(_sized(function), [_sized_layer(layer) for layer in layers])
        if len(layers) > 1:
            warnings += limits.check_overlaps(
                {layer.name: _layer_names(layer, sources, entries, out) for layer in layers}
            )

        # Every check passed: now, and only now, touch the output directory.
        out.mkdir(parents=True, exist_ok=True)
        for file, source in sources.items():
            _place(source, out / file)
        if function is not None and function_tmp is not None:
            final = out / function.file
            # Identical bytes stay untouched (same mtime), so tools that watch dist/ see no change.
            if not _same_file_bytes(final, function.size, function.sha256):
                os.replace(function_tmp, final)
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
    _write_manifest(manifest_path, manifest)
    removed = _remove_stale_layers(plan, layers, previous) if PART_LAYERS in plan.parts else []
    for path in removed:
        log.debug(f"Removed the stale layer zip {path.name} (it stays in the layer store).")
    return BuildResult(manifest, manifest_path, tuple(warnings), tuple(removed))


def _write_manifest(path: Path, manifest: Manifest) -> None:
    """Writes the manifest unless the file already says exactly this (then it is only touched)."""
    from hatch_lambda import manifest as manifest_mod

    try:
        with open(path, "rb") as f:
            if json.load(f) == manifest.to_json():
                # Same bytes, new mtime: `hatch-lambda invoke` takes the newest manifest as the last build
                # (another version's manifest may sit beside this one).
                os.utime(path)
                return
    except (OSError, ValueError):
        pass
    manifest_mod.write(path, manifest)


def _remove_stale_layers(plan: Plan, layers: list[Artifact], previous: Manifest | None) -> list[Path]:
    """Removes layer zips of this project that this build superseded (another fingerprint, or a layer gone).

    Only names this plugin writes are touched: `<name>-<layer>-<12 hex>.zip` for a layer configured now or
    listed in the previous manifest. The store keeps every entry, so switching back is still instant.
    """
    current = {layer.file for layer in layers}
    names = set(plan.config.layer_order) | ({a.name for a in previous.layers} if previous else set())
    removed: list[Path] = []
    for path in layer_zips(plan.output_dir, plan.name, names):
        if path.name not in current:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def layer_zips(out: Path, name: str, layers: Iterable[str]) -> list[Path]:
    """The zips in `out` named as this plugin names a layer zip of project `name`: `<name>-<layer>-<fp12>.zip`."""
    try:
        children = sorted(os.listdir(out))
    except OSError:
        return []
    prefixes = [f"{name}-{layer}-" for layer in layers]
    return [
        out / child
        for child in children
        if child.endswith(".zip")
        and any(child.startswith(p) and _FP12.match(child[len(p):-4]) for p in prefixes)
    ]


def _sized(artifact: Artifact | None) -> limits.Sized | None:
    if artifact is None:
        return None
    return _sized_layer(artifact)


def _sized_layer(artifact: Artifact) -> limits.Sized:
    return limits.Sized(artifact.file, artifact.size, artifact.unzipped_size)


class _LazyBytes(dict[str, "bytes | None"]):
    """Maps zip paths to file bytes, reading a file only when the handler check asks for it."""

    def __init__(self, sources: dict[str, Path]) -> None:
        super().__init__(dict.fromkeys(sources))
        self._sources = sources

    def __getitem__(self, key: str) -> bytes | None:
        return self._sources[key].read_bytes()
