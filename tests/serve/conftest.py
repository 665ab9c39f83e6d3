"""Fixtures of the serve tests: the real ``gpf-flow serve`` started as a subprocess on 127.0.0.1.

``server`` (module scope) yields a :class:`ServerHandle`; ``make_server`` starts extra ones (for
instance with a short token lifetime). Both stop the server with SIGTERM and check it exits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN_PATH = "/realms/geoplateforme/protocol/openid-connect/token"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A running ``gpf-flow serve`` process and how to talk to it."""

    process: subprocess.Popen[bytes]
    port: int
    home: Path
    sdk_config: Path
    log_path: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def login(self) -> str:
        return str(self.settings["accounts"][0]["login"])

    @property
    def password(self) -> str:
        return str(self.settings["accounts"][0]["password"])

    @property
    def datastore(self) -> str:
        return str(self.settings["datastore"]["_id"])

    @property
    def ds(self) -> str:
        """The default datastore's route prefix, relative to the API root."""
        return f"/datastores/{self.datastore}"

    def token(self) -> str:
        """A fresh access token (password grant)."""
        response = httpx.post(
            self.token_url,
            data={
                "grant_type": "password",
                "username": self.login,
                "password": self.password,
                "client_id": "gpf-warehouse",
                "client_secret": "ignored",
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self, token: str | None = None) -> httpx.Client:
        """An httpx client on the API root carrying a Bearer token."""
        return httpx.Client(
            base_url=self.api,
            headers={"Authorization": f"Bearer {token or self.token()}"},
            timeout=60,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, *extra: str) -> ServerHandle:
    """Start ``python -m gpf_flow serve`` on a free port and wait until the API answers."""
    home = tmp / "home"
    sdk_config = tmp / "config.ini"
    log_path = tmp / "server.log"
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "gpf_flow",
        "serve",
        "--port",
        str(port),
        "--home",
        str(home),
        "--write-sdk-config",
        str(sdk_config),
        # maps drawn in a thread: no pool processes, unless the test asks for them
        *(() if "--workers" in extra else ("--workers", "1")),
        *extra,
    ]
    log_file = log_path.open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    log_file.close()
    handle = ServerHandle(process, port, home, sdk_config, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gpf-flow serve exited with {process.returncode}:\n{handle.log()}")
        try:
            httpx.post(handle.token_url, data={"grant_type": "password"}, timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop_server(handle)
                raise RuntimeError(f"gpf-flow serve did not answer in 60 s:\n{handle.log()}") from None
            time.sleep(0.1)
    handle.settings = json.loads((home / "config.json").read_text())
    return handle


def stop_server(handle: ServerHandle) -> int:
    """SIGTERM, then wait; returns the exit code."""
    if handle.process.poll() is None:
        handle.process.send_signal(signal.SIGTERM)
        try:
            handle.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            handle.process.kill()
            handle.process.wait()
            raise AssertionError(f"gpf-flow serve did not stop on SIGTERM:\n{handle.log()}") from None
    return int(handle.process.returncode)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One server per test module, on a fresh home."""
    handle = start_server(tmp_path_factory.mktemp("serve"))
    yield handle
    stop_server(handle)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Start extra servers with extra CLI arguments; stopped after the test."""
    started: list[ServerHandle] = []

    def make(*extra: str, tmp: Path | None = None) -> ServerHandle:
        folder = tmp or tmp_path / f"server{len(started)}"
        folder.mkdir(parents=True, exist_ok=True)
        handle = start_server(folder, *extra)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        stop_server(handle)


@pytest.fixture
def stop() -> Any:
    """The function stopping a server with SIGTERM (returns its exit code)."""
    return stop_server


@pytest.fixture
def api(server: ServerHandle) -> Iterator[httpx.Client]:
    """An authenticated client on the module's server."""
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """A server drawing maps in two processes (the default on a 2-core machine), per module."""
    handle = start_server(tmp_path_factory.mktemp("serve-pool"), "--workers", "2")
    yield handle
    stop_server(handle)
