"""Fixtures of the engine tests: a local store with a test processing, event capture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import Events
from engine_testprocs import TEST_PROCESSING

from gpf_flow.store.local import LocalStore


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[LocalStore]:
    s = LocalStore(home, extra_processings=[TEST_PROCESSING], workers=2)
    yield s
    s.close()


@pytest.fixture
def events() -> Events:
    return Events()
