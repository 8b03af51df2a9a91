"""The hatchling `lambda` target: turns hatch's configuration into a Plan and hands it to the engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.builders.wheel import FileSelectionOptions, WheelBuilderConfig
from hatchling.plugin.manager import PluginManager

from hatch_lambda.config import DEPS_LAYER, PART_FUNCTION, PART_LAYERS, TABLE, LambdaConfig, parse_config
from hatch_lambda.errors import ConfigError, HatchLambdaError
from hatch_lambda.runtimes import ARCHITECTURES, RUNTIMES
from hatch_lambda.store import store_dir

if TYPE_CHECKING:
    from hatch_lambda import engine

# hatchling imports every builder plugin of its environment on every build (`hatch build -t wheel` too), so
# the engine and what it needs are imported only when a lambda build runs.

RUNTIME_ENV = "HATCH_LAMBDA_RUNTIME"
ARCHITECTURE_ENV = "HATCH_LAMBDA_ARCHITECTURE"


class LambdaBuilderConfig(WheelBuilderConfig):
    """hatchling's wheel file selection (packages, sources, src layout) plus our validated options."""

    @cached_property
    def lambda_config(self) -> LambdaConfig:
        project_file = os.path.join(self.root, "pyproject.toml")
        raw = dict(self.target_config)
        # CI matrices and local testing build one project for several targets without editing it.
        overrides = (("runtime", RUNTIME_ENV, RUNTIMES), ("architecture", ARCHITECTURE_ENV, ARCHITECTURES))
        for key, env, choices in overrides:
            value = os.environ.get(env)
            if not value:
                continue
            if value not in choices:
                message = (
                    f"Environment variable {env} is {value!r}; it overrides `{TABLE}.{key}` and must be one of "
                    f"{', '.join(choices)}."
                )
                raise HatchLambdaError(message)
            raw[key] = value
        return parse_config(raw, source=project_file)

    @cached_property
    def default_file_selection_options(self) -> FileSelectionOptions:
        """The wheel target's heuristics, then the handler's module: `lambda_function.py` alone is a project."""
        try:
            return super().default_file_selection_options
        except ValueError:
            pass
        handler = self.lambda_config.handler
        top = handler.split(".", 1)[0] if handler else None
        exclude = self.target_config.get("exclude", self.build_config.get("exclude", []))
        if top and os.path.isfile(os.path.join(self.root, f"{top}.py")):
            return FileSelectionOptions([], exclude, [], [f"{top}.py"])
        if top and os.path.isfile(os.path.join(self.root, top, "__init__.py")):
            return FileSelectionOptions([], exclude, [top], [])
        if top and os.path.isfile(os.path.join(self.root, "src", top, "__init__.py")):
            return FileSelectionOptions([], exclude, [f"src/{top}"], [])
        name = self.builder.metadata.core.name
        found = f"handler module {top!r}" if top else "handler module (`handler` is not set)"
        problem = (
            f"cannot tell which files form the function zip: there is no package named like the project "
            f"({name!r}) and no {found} at the project root or under src/. Name them in `[{TABLE}]`, e.g. "
            f"`only-include = [\"lambda_function.py\"]` or `packages = [\"src/my_app\"]`."
        )
        raise ConfigError([problem], os.path.join(self.root, "pyproject.toml")) from None

    def default_global_exclude(self) -> list[str]:
        # Secrets, layer inputs and the output directory never belong in the function zip.
        patterns: list[str] = list(super().default_global_exclude())
        patterns += [".env", ".env.*"]
        for layer in self.lambda_config.binary_layers:
            patterns += [f"/{source}" for source, _ in layer.paths]
        # The output directory and a layer store kept inside the project are build products, not code.
        root = Path(self.root).resolve()
        for directory in (Path(self.directory), store_dir(root, self.lambda_config.store)):
            inside = os.path.relpath(directory.resolve(), root)
            if not inside.startswith(".."):
                patterns.append(f"/{Path(inside).as_posix()}")
        return sorted(set(patterns))


class LambdaBuilder(BuilderInterface[LambdaBuilderConfig, PluginManager]):
    """Builds `<name>-<version>-function.zip`, one zip per layer, and `<name>-<version>-lambda.json`."""

    PLUGIN_NAME = "lambda"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requested: list[str] = []
        self._result: engine.BuildResult | None = None

    @classmethod
    def get_config_class(cls) -> type[LambdaBuilderConfig]:
        return LambdaBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {PART_FUNCTION: self.build_function, PART_LAYERS: self.build_layers}

    def build(self, *, directory: str | None = None, versions: list[str] | None = None,
              **kwargs: Any) -> Generator[str, None, None]:
        # hatch calls one method per version; we build all requested parts in one engine run so the
        # limits can see the function and the layers together before anything is written.
        self._requested = list(versions or self.config.versions or self.get_default_versions())
        self._result = None
        yield from super().build(directory=directory, versions=versions, **kwargs)

    def build_function(self, directory: str, **_build_data: Any) -> str:
        result = self._run(directory)
        path = result.function_path
        return os.fspath(path) if path else os.fspath(result.manifest_path)

    def build_layers(self, directory: str, **_build_data: Any) -> str:
        return os.fspath(self._run(directory).manifest_path)

    def clean(self, directory: str, versions: list[str]) -> None:
        name = self.project_file_name
        out = Path(directory)
        try:
            binary = self.config.lambda_config.binary_layers
        except HatchLambdaError as e:
            self.app.abort(str(e))
            raise
        layer_names = [DEPS_LAYER, *[layer.name for layer in binary]]
        if PART_FUNCTION in versions:
            for path in out.glob(f"{name}-*-function.zip"):
                path.unlink()
        if PART_LAYERS in versions:
            from hatch_lambda.engine import layer_zips

            for path in layer_zips(out, name, layer_names):
                path.unlink()
        for path in out.glob(f"{name}-*-lambda.json"):
            path.unlink()

    @property
    def project_file_name(self) -> str:
        return str(self.normalize_file_name_component(self.metadata.core.raw_name))

    def _run(self, directory: str) -> engine.BuildResult:
        from hatch_lambda import engine, manifest
        from hatch_lambda.report import render_table

        if self._result is not None:
            return self._result
        reporter = _HatchReporter(self.app)
        try:
            plan = self._plan(directory)
            runtime = RUNTIMES[plan.config.runtime]
            if runtime.deprecated:
                reporter.warn(
                    f"{runtime.name} is deprecated by AWS Lambda since {runtime.deprecated}; "
                    "it still builds, but move to a newer runtime."
                )
            previous = manifest.read(plan.output_dir / plan.manifest_name)
            result = engine.build(plan, reporter, previous)
        except HatchLambdaError as e:
            self.app.abort(str(e))
            raise  # abort exits; this keeps type checkers and test doubles honest
        for warning in result.warnings:
            reporter.warn(warning)
        self.app.display_info(render_table(result.manifest))
        self._result = result
        return result

    def _plan(self, directory: str) -> engine.Plan:
        from hatch_lambda import engine
        from hatch_lambda.archive import Entry
        from hatch_lambda.deps import ProjectDependencies

        cfg = self.config.lambda_config
        parts = frozenset(self._requested or self.get_default_versions())
        files: tuple[Entry, ...] = ()
        if PART_FUNCTION in parts:
            files = tuple(
                Entry(Path(f.path), Path(f.distribution_path).as_posix(), os.access(f.path, os.X_OK))
                for f in self.recurse_included_files()
            )
        core = self.metadata.core
        project_deps = ProjectDependencies(
            dependencies=tuple(core.dependencies),
            optional={k: tuple(v) for k, v in core.optional_dependencies.items()},
            groups=dict(self.metadata.config.get("dependency-groups", {})),
        )
        return engine.Plan(
            name=self.project_file_name,
            version=str(self.metadata.version),
            root=Path(self.root).resolve(),
            output_dir=Path(directory).resolve(),
            config=cfg,
            function_files=files,
            project_dependencies=project_deps,
            parts=parts,
            source=os.path.join(self.root, "pyproject.toml"),
        )


class _HatchReporter:
    def __init__(self, app: Any) -> None:
        self.app = app

    def info(self, message: str) -> None:
        self.app.display_info(message)

    def warn(self, message: str) -> None:
        self.app.display_warning(f"warning: {message}")

    def debug(self, message: str) -> None:
        self.app.display_debug(message)
