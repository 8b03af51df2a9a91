"""The exception hierarchy: every error a user can fix derives from `HatchLambdaError`."""

from __future__ import annotations

from collections.abc import Sequence


class HatchLambdaError(Exception):
    """Root of the errors a user can fix; the message is meant to be shown as is."""


class ConfigError(HatchLambdaError, ValueError):
    """One or more problems in `[tool.hatch.build.targets.lambda]`, all reported together."""

    def __init__(self, problems: Sequence[str], source: str = "pyproject.toml") -> None:
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:
            text = f"{source}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{source}: {len(self.problems)} problems in the lambda target configuration:\n{lines}"
        super().__init__(text)


class ConfigTypeError(ConfigError, TypeError):
    """Configuration problems that are all of the wrong type (hatchling raises TypeError for these)."""


class LimitError(HatchLambdaError):
    """The artifacts would break one of Lambda's hard limits."""


class HandlerError(HatchLambdaError):
    """The configured handler is not in the function zip or does not define the function."""


class LayerInputError(HatchLambdaError):
    """A binary layer input cannot be packaged (missing path, symlink leaving the project, ...)."""


class DependencyError(HatchLambdaError):
    """The dependency layer cannot be resolved or installed for the target runtime."""


class LockError(DependencyError):
    """A lock file is missing, ambiguous, malformed or holds an entry we cannot install."""


class StoreError(HatchLambdaError):
    """The layer store cannot be used (unwritable directory, ...)."""


class LocalRunError(HatchLambdaError):
    """`hatch-lambda invoke`/`run` cannot lay out or run the built artifacts."""
