"""A real PostGIS for the tests, started through gpf-flow's own cluster management.

Skipped only outside CI when PostgreSQL/PostGIS is not installed; under ``CI=true`` a missing
PostgreSQL fails the tests (CI installs ``postgresql postgis``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpf_flow.postgis.cluster import EmbeddedCluster, PostgresUnavailable

sys.path.insert(0, str(Path(__file__).parent.parent / "processings"))
sys.path.insert(0, str(Path(__file__).parent.parent / "store"))


def _cluster_or_skip(home: Path) -> EmbeddedCluster:
    try:
        return EmbeddedCluster(home)
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL/PostGIS is required in CI: {exc}")
        pytest.skip(f"PostgreSQL/PostGIS not installed: {exc}")


@pytest.fixture(scope="session")
def pg_home() -> Iterator[Path]:
    """A store home with a running embedded cluster, shared by the session (stopped at the end)."""
    base = Path(tempfile.mkdtemp(prefix="gpf-pg-"))
    home = base / "home"
    home.mkdir()
    cluster = _cluster_or_skip(home)
    saved = os.environ.pop("GPF_FLOW_POSTGRES", None)
    try:
        cluster.ensure_running()
        yield home
    finally:
        cluster.stop()
        if saved is not None:
            os.environ["GPF_FLOW_POSTGRES"] = saved
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_home() -> Iterator[Path]:
    """An empty home (its own cluster when a test starts one); the cluster is stopped afterwards."""
    base = Path(tempfile.mkdtemp(prefix="gpf-pg-"))
    home = base / "home"
    home.mkdir()
    _cluster_or_skip(home)
    try:
        yield home
    finally:
        try:
            EmbeddedCluster(home).stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
