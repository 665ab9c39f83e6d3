"""The engine on the HTTP backend: ``gpf-flow serve`` started for real, driven by GeoplateformeStore."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gpf_flow import events as ev
from gpf_flow import load_workflow, run
from gpf_flow.datasets import write_dataset
from gpf_flow.delivery import PollPolicy, deliver, load_descriptor
from gpf_flow.engine.options import RunOptions

TOKEN_PATH = "/realms/geoplateforme/protocol/openid-connect/token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_archive_workflow_through_the_rest_api(tmp_path: Path) -> None:
    from gpf_flow.store.geoplateforme import GeoplateformeStore

    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(tmp_path / "home")]
        + ["--write-sdk-config", str(tmp_path / "config.ini")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                httpx.post(f"http://127.0.0.1:{port}{TOKEN_PATH}", data={}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gpf-flow serve did not answer"
                time.sleep(0.1)
        store = GeoplateformeStore.from_config(tmp_path / "config.ini")
        try:
            folder = write_dataset("archive-sample", tmp_path)
            report = deliver(
                store,
                load_descriptor(folder / "upload_descriptor.jsonc"),
                poll=PollPolicy(first=0.05, maximum=0.5),
            )
            assert report.ok
            events: list[ev.Event] = []
            result = run(
                load_workflow("archive-generic"),
                store,
                RunOptions(state_path=tmp_path / "runs.sqlite"),
                on_event=events.append,
            )
            assert result.status == "success", result.failed
            (link,) = result.links
            assert any(u["url"].startswith(f"http://127.0.0.1:{port}/download/") for u in link["urls"])
            assert [e.line for e in events if isinstance(e, ev.LogLine)]  # logs streamed over HTTP
        finally:
            store.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
