"""Fixtures of the Géoplateforme store tests: a real ``gpf-flow serve``, a fault-injecting proxy,
and ``GeoplateformeStore`` instances configured from the SDK ``config.ini`` the server writes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gpf_faultproxy import FaultProxy  # noqa: E402
from gpf_helpers import fast_settings, serve_helpers  # noqa: E402

from gpf_flow.store.geoplateforme import GeoplateformeStore  # noqa: E402


@pytest.fixture(scope="session")
def gpf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real ``gpf-flow serve`` shared by these tests (each uses its own entity names)."""
    helpers = serve_helpers()
    handle = helpers.start_server(tmp_path_factory.mktemp("gpfserve"))
    yield handle
    helpers.stop_server(handle)


@pytest.fixture
def make_gpf_server(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start servers with extra arguments (``--token-lifetime 2``...); stopped after the test."""
    helpers = serve_helpers()
    started: list[Any] = []

    def make(*extra: str) -> Any:
        folder = tmp_path / f"gpfserver{len(started)}"
        folder.mkdir(parents=True, exist_ok=True)
        handle = helpers.start_server(folder, *extra)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        helpers.stop_server(handle)


@pytest.fixture
def gpf_store(gpf_server: Any) -> Iterator[GeoplateformeStore]:
    """A store on the module's server, configured from its SDK config.ini."""
    store = GeoplateformeStore(fast_settings(gpf_server))
    yield store
    store.close()


@pytest.fixture
def fault_proxy(gpf_server: Any) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the module's server."""
    proxy = FaultProxy(upstream_port=gpf_server.port).start()
    yield proxy
    proxy.stop()
