"""Render threads for the raster pyramid: a segment's jobs rendered by N threads of this process.

Threads, not processes: nine tenths of a job run without the GIL (GDAL's warped reads, Pillow's
encodes, reductions and conversions), so N threads keep N cores busy, and they share what worker
processes had to duplicate: one GDAL block cache (a source block decoded for one job serves the
neighbouring job whichever thread renders it), the loaded libraries (no interpreter to start per
worker) and the output (no part files to merge, no job images passed through files). On 2 cores
(``bench/pyramid.py``) two threads build at 0.9 of twice the one-process floor, for about the CPU
of one thread.

Each thread opens its own :class:`Renderer` (GDAL dataset handles are not shared between
threads) and takes the next job in the caller's order. The calling thread writes: each job's
encoded tiles, masks and root image come back through a queue, so the SQLite connection stays in
the thread that opened it, and at most two jobs per thread wait there (memory stays flat). A
failure in any thread, an abort or a failed write stops the threads after their current job.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rasterio.errors import RasterioError

from gpf_flow.processings.base import ProcessingAborted, ProcessingFailed
from gpf_flow.processings.raster_render import JobResult, Renderer, RenderSpec, read_failure

CACHE_ENV = "GPF_FLOW_GDAL_CACHEMAX"
"""Set it (in MB) to choose the GDAL block cache of a pyramid build."""
CACHE_MIN_MB, CACHE_MAX_MB = 32, 128
"""Bounds of each render thread's share of the default cache."""
QUEUED_PER_THREAD = 2
"""Rendered jobs a thread may have waiting for the writer before it waits too."""

Job = tuple[int, int]
EncodedTile = tuple[int, int, int, bytes]
"""(zoom, column, row from the top, encoded bytes)."""


def gdal_cache_mb(threads: int) -> int:
    """GDAL block cache of a build rendering with ``threads`` threads, in MB.

    ``$GPF_FLOW_GDAL_CACHEMAX`` when set, else one share per thread of 1/64 of the memory split
    among them, each between 32 and 128 MB. GDAL's default (5 % of the memory) let memory grow
    with the mosaic, while 64 MB per thread builds as fast.
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ProcessingFailed(f"{CACHE_ENV}={configured!r}: give a number of megabytes") from None
    threads = max(1, threads)
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return threads * max(CACHE_MIN_MB, min(CACHE_MAX_MB, total_mb // 64 // threads))


@dataclass
class RenderedJob:
    """One job's output, handed from a render thread to the writing thread."""

    job: Job
    result: JobResult = field(default_factory=lambda: JobResult(None, {}, {}))
    tiles: list[EncodedTile] = field(default_factory=list)
    masks: list[EncodedTile] = field(default_factory=list)

    def add_tile(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """A tile sink for :meth:`Renderer.render_job`."""
        self.tiles.append((zoom, column, row, data))

    def add_mask(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """A mask sink for :meth:`Renderer.render_job`."""
        self.masks.append((zoom, column, row, data))


class _End:
    """A thread's last message (after its last job, or after its failure)."""


def render_in_threads(
    spec: RenderSpec,
    jobs: list[Job],
    threads: int,
    on_done: Callable[[RenderedJob], None],
    is_aborted: Callable[[], bool],
) -> None:
    """Render ``jobs`` on ``threads`` threads; ``on_done`` is called in this thread, job by job.

    Raises :class:`ProcessingAborted` when ``is_aborted()`` turns true, what ``on_done`` raises,
    or what a thread raised (a read error as :class:`ProcessingFailed`); the threads are stopped
    and joined before it returns or raises.
    """
    pending: Iterator[Job] = iter(jobs)
    take = threading.Lock()
    stop = threading.Event()
    slots = threading.Semaphore(QUEUED_PER_THREAD * threads)
    results: queue.Queue[RenderedJob | BaseException | _End] = queue.Queue()

    def next_job() -> Job | None:
        while not slots.acquire(timeout=0.1):
            if stop.is_set():
                return None
        with take:
            job = None if stop.is_set() else next(pending, None)
        if job is None:
            slots.release()
        return job

    def work() -> None:
        renderer: Renderer | None = None
        try:
            renderer = Renderer(spec)
            while (job := next_job()) is not None:
                done = RenderedJob(job)
                done.result = renderer.render_job(job[0], job[1], done.add_tile, done.add_mask)
                results.put(done)
        except RasterioError as exc:
            results.put(read_failure(exc))
        except BaseException as exc:  # handed to the writing thread, which raises it
            results.put(exc)
        finally:
            if renderer is not None:
                renderer.close()
            results.put(_End())

    workers = [threading.Thread(target=work, name=f"pyramid-render-{i}", daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        running = threads
        while running:
            if is_aborted():
                raise ProcessingAborted("execution aborted")
            try:
                item = results.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                on_done(item)
                slots.release()
    finally:
        stop.set()
        for worker in workers:
            worker.join()
