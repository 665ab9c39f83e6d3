"""The pool that draws raster maps, apart from tiles and API calls.

GetMap is the server's CPU-heavy request (MapProxy's merge and resampling, rasterio reprojection,
JPEG/PNG encoding). It runs in a bounded pool of its own, so that a burst of big maps queues
there and never in front of a tile or an API call (those run on the event loop and in
Starlette's thread pool):

- ``workers`` ≥ 2: that many processes, each with its own GIL, its own store connection and its
  own MapProxy, started on the first map (spawned, not forked: the server has threads);
- ``workers`` = 1: one thread of the server process (no extra process: tests, small machines).

A request goes to the pool as its WSGI environ (strings only) and comes back as status,
headers and body.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[int, list[tuple[str, str]], bytes]
"""Status code, headers and body of a WSGI answer."""

MAP_NICENESS = 5
"""Added to the pool processes' niceness: when the cores are busy drawing maps, the server
process (tiles, API calls, HTTP) gets the CPU first, so cheap requests keep their latency."""

_app: WsgiApp | None = None
"""The WSGI app of a pool process (built by its initializer)."""


def call_wsgi(app: WsgiApp, environ: dict[str, str]) -> Answer:
    """Run one request through a WSGI app and collect its whole answer."""
    full: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **environ,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return lambda data: None

    chunks = app(full, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return int(str(captured[0]).split()[0]), [(str(k), str(v)) for k, v in captured[1]], body


def _start_process(factory: Callable[[], WsgiApp]) -> None:
    global _app
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops the pool
    os.nice(MAP_NICENESS)
    _app = factory()


def _in_process(environ: dict[str, str]) -> Answer:
    assert _app is not None, "the map pool process was not initialised"
    return call_wsgi(_app, environ)


class MapPool:
    """A bounded pool answering WSGI requests of the raster WMS (see the module docstring)."""

    def __init__(self, workers: int, factory: Callable[[], WsgiApp], local_app: WsgiApp) -> None:
        """``factory`` builds the app in each pool process (picklable: a module-level function or
        a ``functools.partial`` of one); ``local_app`` answers when ``workers`` is 1."""
        self.workers = max(1, workers)
        self._factory = factory
        self._local_app = local_app
        self._lock = threading.Lock()
        self._executor: Executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self.workers == 1:
            return ThreadPoolExecutor(1, thread_name_prefix="gpf-flow-map")
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_process,
            initargs=(self._factory,),
        )

    def _submit(self, environ: dict[str, str]) -> Future[Answer]:
        with self._lock:
            if self.workers == 1:
                return self._executor.submit(call_wsgi, self._local_app, environ)
            return self._executor.submit(_in_process, environ)

    async def answer(self, environ: dict[str, str]) -> Answer:
        """The pool's answer to one request (a crashed pool process is replaced for the next one)."""
        try:
            return await asyncio.wrap_future(self._submit(environ))
        except BrokenProcessPool:
            with self._lock:
                broken, self._executor = self._executor, self._new_executor()
            broken.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        """Stop the pool: queued maps are dropped, maps being drawn finish."""
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)
