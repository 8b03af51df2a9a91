"""Registers the `noop` build target with hatchling."""

from __future__ import annotations

from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface
from hatchling.plugin import hookimpl


class NoopBuilder(BuilderInterface):  # type: ignore[misc]
    """Builds nothing: what is left is hatch starting, loading the project and its plugins, and exiting."""

    PLUGIN_NAME = "noop"

    def get_version_api(self) -> dict[str, Any]:
        return {"standard": self.build_standard}

    def build_standard(self, directory: str, **_build_data: Any) -> str:
        return directory


@hookimpl
def hatch_register_builder() -> type[NoopBuilder]:
    return NoopBuilder
