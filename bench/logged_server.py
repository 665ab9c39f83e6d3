"""What the request-counting benches share: a ``gpf-flow serve`` on a fresh home whose request log
is parsed, and an oracle that reads the home's SQLite to know when executions really ended."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

LOG_LINE = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO gpf_flow.serve: \S+ "
    r'"(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) [\d.]+ms(?: (?P<bytes>\d+)B)?'
)
"""One request line of the server's log (method, path, status, body bytes)."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_lines(text: str) -> list[dict[str, str]]:
    return [m.groupdict() for m in map(LOG_LINE.match, text.splitlines()) if m and "/api/" in m["path"]]


class LoggedServer:
    """A ``gpf-flow serve`` on a fresh home (``folder/home``), its log in ``folder/serve.log`` and
    an official SDK ``config.ini`` written for it."""

    def __init__(self, folder: Path) -> None:
        self.home = folder / "home"
        self.config = folder / "config.ini"
        self.log_path = folder / "serve.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "gpf_flow", "serve", "--port", str(self.port), "--home", str(self.home)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*cmd, "--write-sdk-config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gpf-flow serve did not start:\n{self.log_path.read_text()}") from None
                time.sleep(0.1)

    def log_size(self) -> int:
        """Where the log ends now (an offset for :meth:`requests_since`)."""
        return self.log_path.stat().st_size

    def requests_since(self, offset: int = 0) -> list[dict[str, str]]:
        """The API requests logged after ``offset``."""
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return _api_lines(f.read().decode("utf-8", "replace"))

    def stop(self) -> None:
        """SIGINT, then a kill if the server has not stopped within 30 s."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class EndOracle(threading.Thread):
    """Reads the home's SQLite every 20 ms: when each processing execution really ended (wall time)."""

    def __init__(self, home: Path) -> None:
        super().__init__(daemon=True)
        self.db = home / "store.sqlite"
        self.ended: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
                rows = conn.execute(
                    "SELECT id, status FROM entities WHERE type = 'processing_execution'"
                ).fetchall()
                conn.close()
            except sqlite3.Error:
                continue
            for execution_id, status in rows:
                if status in ("SUCCESS", "FAILURE", "ABORTED") and execution_id not in self.ended:
                    self.ended[execution_id] = time.time()
