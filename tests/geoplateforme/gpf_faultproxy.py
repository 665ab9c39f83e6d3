"""A small HTTP/1.1 reverse proxy that injects faults on a schedule (tests only).

It sits between a client and a real ``gpf-flow serve``. Rules match requests by method and path
(regular expression) and each matching request consumes the next fault of the rule:

- ``"pass"``: forward normally;
- ``503`` / ``500`` / ``502`` / ``429`` / ``401`` / ``403`` (an int): answer that status without forwarding
  (429 and 503 carry ``Retry-After``); ``(status, body)`` answers with that JSON body;
- ``"drop"``: close the connection without forwarding (the request never reached the server);
- ``"drop-after"``: forward, let the server do the work, then close without answering (the client
  cannot know whether it was applied);
- ``"slow"``: forward, then wait ``slow_seconds`` before answering (client read timeouts).

Every request is recorded (``log``) with the fault applied, so tests can check the schedule ran.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field

Fault = str | int | tuple[int, dict[str, object]]


@dataclass
class Rule:
    """Faults for the requests matching ``method`` and ``path`` (regex on the path without query)."""

    method: str
    path: re.Pattern[str]
    faults: deque[Fault]


@dataclass
class FaultProxy:
    """The proxy; start it with :meth:`start`, point clients at :attr:`url`."""

    upstream_port: int
    slow_seconds: float = 2.0
    retry_after: str = "1"
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0
    forwarded: int = 0
    """Requests received in absolute form (the proxy was used as a forward HTTP proxy)."""

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, method: str, path: str, *faults: Fault) -> None:
        """Schedule faults for the next requests matching ``method`` and ``path``."""
        with self._lock:
            self.rules.append(Rule(method.upper(), re.compile(path), deque(faults)))

    def faults_applied(self) -> list[tuple[str, str, str]]:
        """The requests that got a fault (not ``pass``)."""
        return [entry for entry in self.log if entry[2] != "pass"]

    def pending(self) -> int:
        """Faults scheduled but not yet applied."""
        with self._lock:
            return sum(len(rule.faults) for rule in self.rules)

    def start(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _next_fault(self, method: str, path: str) -> Fault:
        with self._lock:
            for rule in self.rules:
                if rule.faults and rule.method == method and rule.path.search(path):
                    return rule.faults.popleft()
        return "pass"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _version = request_line.split(" ", 2)
                if target.startswith("http://"):  # used as a forward proxy: absolute-form target
                    self.forwarded += 1
                    target = "/" + target.split("/", 3)[3]
                headers = [line for line in header_lines if line]
                length = 0
                chunked = False
                for line in headers:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                    if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                        chunked = True
                body = await _read_chunked(reader) if chunked else await reader.readexactly(length)
                path = target.split("?", 1)[0]
                fault = self._next_fault(method.upper(), path)
                self.log.append((method.upper(), path, str(fault)))
                if fault == "drop":
                    return
                if isinstance(fault, int | tuple):
                    status, payload = fault if isinstance(fault, tuple) else (fault, None)
                    writer.write(_canned(status, self.retry_after, payload))
                    await writer.drain()
                    continue
                response = await self._forward(method, target, headers, body)
                if fault == "drop-after":
                    return
                if fault == "slow":
                    await asyncio.sleep(self.slow_seconds)
                writer.write(response)
                await writer.drain()
                return  # upstream answered with Connection: close; do the same
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            writer.close()

    async def _forward(self, method: str, target: str, headers: list[str], body: bytes) -> bytes:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        kept = [
            h
            for h in headers
            if h.split(":", 1)[0].strip().lower() not in ("connection", "transfer-encoding", "content-length")
        ]
        kept += [f"Content-Length: {len(body)}", "Connection: close"]
        up_writer.write(f"{method} {target} HTTP/1.1\r\n".encode("latin-1"))
        up_writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
        up_writer.write(body)
        await up_writer.drain()
        data = await up_reader.read()
        up_writer.close()
        return _with_connection_close(data)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _canned(status: int, retry_after: str, payload: dict[str, object] | None = None) -> bytes:
    reasons = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error"}
    reasons |= {502: "Bad Gateway", 503: "Service Unavailable"}
    default = {"error": "injected", "error_description": [f"fault injected by the test proxy ({status})"]}
    body = json.dumps(payload if payload is not None else default).encode()
    extra = f"Retry-After: {retry_after}\r\n" if status in (429, 503) else ""
    head = (
        f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


def _with_connection_close(response: bytes) -> bytes:
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + sep + body
