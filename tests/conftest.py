"""Shared fixtures: every test gets its own layer store and never touches the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("HATCH_LAMBDA_STORE", str(store))
    monkeypatch.setenv("HATCH_LAMBDA_LAYOUTS", str(tmp_path_factory.mktemp("layouts")))
    for name in ("HATCH_LAMBDA_FORCE_REBUILD", "HATCH_LAMBDA_RUNTIME", "HATCH_LAMBDA_ARCHITECTURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return store
