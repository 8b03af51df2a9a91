"""How the engine talks to the user: a tiny logging protocol each front end adapts."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...


class ListReporter:
    """Collects messages; used by tests and to de-duplicate warnings."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.messages.append(("info", message))

    def warn(self, message: str) -> None:
        self.messages.append(("warn", message))

    def debug(self, message: str) -> None:
        self.messages.append(("debug", message))

    def of(self, level: str) -> list[str]:
        return [m for lvl, m in self.messages if lvl == level]
