"""Fixtures of the local store tests: a store in a temporary home with test processings/checks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from store_test_procs import TEST_CHECKS, TEST_PROCESSINGS  # noqa: E402

from gpf_flow.store.local import LocalStore  # noqa: E402


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[LocalStore]:
    s = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS, workers=2)
    yield s
    s.close()
