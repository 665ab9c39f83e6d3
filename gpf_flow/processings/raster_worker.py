"""Worker processes for the raster pyramid: plain subprocesses fed with jobs on stdin.

Subprocesses (not ``multiprocessing``) because the local store already runs the processing in a
worker process, possibly daemonic (``multiprocessing`` refuses children there) and possibly
multi-threaded (``fork`` is unsafe there). Protocol, one JSON document per line:

- parent → child: first ``{"spec": RenderSpec, "part": path, "scratch": dir}``, then one
  ``[x, y]`` job per line; closing stdin means "no more jobs".
- child → parent: per job ``{"job": [x, y], "counts": {...}, "seconds": {...}, "root": npy|null}``,
  then ``{"done": true}`` at the end, or ``{"error": "..."}`` on failure.

Each child writes its tiles into its own part MBTiles (merged by the parent): no write contention.
A child whose parent disappears sees end-of-file on stdin and exits after its current job.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path
from typing import IO, Any

import numpy as np

from gpf_flow.processings.base import ProcessingAborted, ProcessingFailed

JobDone = Callable[[tuple[int, int], dict[str, Any]], None]
CACHE_ENV = "GPF_FLOW_GDAL_CACHEMAX"
"""Set it (in MB) to choose each raster worker's GDAL block cache."""
CACHE_MIN_MB, CACHE_MAX_MB = 32, 128
RUN_SIDE = 4
"""Jobs go to one worker by squares of RUN_SIDE × RUN_SIDE (aligned on the grid, Morton order)."""
TAIL = 8
"""Jobs per worker sent one by one at the end, so that the workers finish together."""


def gdal_cache_mb(processes: int) -> int:
    """GDAL block cache of each worker: ``$GPF_FLOW_GDAL_CACHEMAX`` MB, else a share of the memory.

    GDAL's default (5 % of the memory per process) made memory grow with the mosaic while a
    64 MB cache builds as fast: each of the ``processes`` workers gets 1/64 of the memory,
    between 32 and 128 MB.
    """
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ProcessingFailed(f"{CACHE_ENV}={configured!r}: give a number of megabytes") from None
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return max(CACHE_MIN_MB, min(CACHE_MAX_MB, total_mb // 64 // max(1, processes)))


class WorkerPool:
    """Runs jobs on ``n`` child processes with dynamic dispatch (two jobs in flight per child)."""

    def __init__(self, n: int, spec: dict[str, Any], scratch: Path, renderers: int | None = None) -> None:
        """``n`` children; ``renderers``: how many processes render in all (the GDAL caches are
        shared out among them; default ``n``)."""
        self.scratch = scratch
        self.parts = [scratch / f"part-{i}.mbtiles" for i in range(n)]
        self._queue: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self._procs: list[subprocess.Popen[str]] = []
        self._stderr: list[Path] = []
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.cache_mb = gdal_cache_mb(renderers or n)
        self.caches: list[object] = []
        """GDAL's block cache (MB) as each child has it, reported when it is done."""
        env["GDAL_CACHEMAX"] = str(self.cache_mb)
        # Workers do no linear algebra: numpy's BLAS threads only cost start-up CPU (≈ 70 ms each).
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            for i in range(n):
                self._start(i, spec, env)
        except BaseException:
            self.kill()
            raise

    def _start(self, i: int, spec: dict[str, Any], env: dict[str, str]) -> None:
        err_path = self.scratch / f"worker-{i}.err"
        self._stderr.append(err_path)
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gpf_flow.processings.raster_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                env=env,
            )
        self._procs.append(proc)
        self._send(i, {"spec": spec, "part": str(self.parts[i]), "scratch": str(self.scratch)})
        threading.Thread(target=self._reader, args=(i, proc.stdout), daemon=True).start()

    def _send(self, i: int, message: object) -> None:
        stdin = self._procs[i].stdin
        assert stdin is not None
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()

    def _reader(self, i: int, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._queue.put((i, line))
        self._queue.put((i, None))

    def _failure(self, i: int, message: str | None) -> ProcessingFailed:
        if message is None:  # the child died without a word: its stderr tail is the best clue
            code = self._procs[i].returncode
            tail = self._stderr[i].read_text(errors="replace").strip().splitlines()[-3:]
            message = f"exited with code {code} before finishing {' | '.join(tail)}".strip()
        return ProcessingFailed(f"pyramid worker {i} failed: {message}")

    def run(
        self,
        jobs: list[tuple[int, int]],
        on_done: JobDone,
        is_aborted: Callable[[], bool],
        local: Callable[[tuple[int, int]], None] | None = None,
    ) -> None:
        """Dispatch every job, calling ``on_done`` (in this thread) as results arrive.

        Jobs go out in runs: the consecutive jobs of one aligned square of :data:`RUN_SIDE`² (the
        caller's Morton order keeps them together), so that the source blocks neighbouring jobs
        share are decoded by one worker, not by both; the last jobs go one by one so that the
        workers finish together. ``local`` renders a job in this process: this process then takes
        runs too, like one more worker (between its jobs it hands out the children's work).
        """
        renderers = len(self._procs) + (local is not None)
        head = len(jobs) - min(len(jobs), TAIL * renderers)
        squares = groupby(jobs[:head], key=lambda job: (job[0] // RUN_SIDE, job[1] // RUN_SIDE))
        runs = [list(run) for _, run in squares] + [[job] for job in jobs[head:]]
        todo: Iterator[list[tuple[int, int]]] = iter(runs)
        in_flight = [0] * len(self._procs)
        open_stdin = [True] * len(self._procs)
        done = [False] * len(self._procs)

        def feed(i: int) -> None:
            while open_stdin[i] and in_flight[i] < 2:
                run = next(todo, None)
                if run is None:
                    stdin = self._procs[i].stdin
                    assert stdin is not None
                    stdin.close()
                    open_stdin[i] = False
                    return
                for job in run:
                    self._send(i, list(job))
                in_flight[i] += len(run)

        def handle(i: int, line: str | None) -> None:
            if line is None:
                if done[i]:
                    return
                self._procs[i].wait()
                raise self._failure(i, None)
            message = json.loads(line)
            if "error" in message:
                raise self._failure(i, message["error"])
            if message.get("done"):
                self.caches.append(message.get("gdal_cache_mb"))
                self._procs[i].wait()
                done[i] = True
                return
            in_flight[i] -= 1
            jx, jy = message["job"]
            on_done((int(jx), int(jy)), message)
            feed(i)

        for i in range(len(self._procs)):
            feed(i)
        mine: list[tuple[int, int]] = []
        while local is not None or not all(done):
            if is_aborted():
                self.kill()
                raise ProcessingAborted("execution aborted")
            if local is not None:
                while True:  # what the children said first, then one job here
                    try:
                        handle(*self._queue.get_nowait())
                    except queue.Empty:
                        break
                mine = mine or next(todo, [])
                if mine:
                    local(mine.pop(0))
                else:
                    local = None
                continue
            try:
                i, line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            handle(i, line)

    def kill(self) -> None:
        """Stop every child at once (abort or failure)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait()


def load_root(message: dict[str, Any]) -> np.ndarray[Any, Any] | None:
    """The job-level image a child left in the scratch folder (the file is removed)."""
    path = message.get("root")
    if not path:
        return None
    image: np.ndarray[Any, Any] = np.load(path)
    os.unlink(path)
    return image


def save_root(path: Path, image: np.ndarray[Any, Any]) -> None:
    """Write a job's root image for the parent; a full disk raises ``OSError`` naming the file.

    (``np.save`` to a path reports a short write without errno nor file name.)
    """
    buf = io.BytesIO()
    np.save(buf, image)
    try:
        path.write_bytes(buf.getvalue())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _child_main() -> int:
    # Imports here: the parent imports this module only for WorkerPool.
    from gpf_flow.processings.mbtiles import MBTilesWriter
    from gpf_flow.processings.raster_render import Renderer, RenderSpec, describe_error

    out = sys.stdout
    try:
        config = json.loads(sys.stdin.readline())
        spec = RenderSpec.from_json(config["spec"])
        renderer = Renderer(spec)
        writer = MBTilesWriter(Path(config["part"]), renderer.geometry)
        scratch = Path(config["scratch"])
        for line in sys.stdin:
            jx, jy = json.loads(line)
            result = renderer.render_job(jx, jy, writer.put, writer.put_mask)
            root = None
            if result.root is not None:
                root = str(scratch / f"root-{spec.job_level}-{jx}-{jy}.npy")
                save_root(Path(root), result.root)
            message = {"job": [jx, jy], "counts": result.counts, "seconds": result.seconds, "root": root}
            out.write(json.dumps(message) + "\n")
            out.flush()
        writer.close(index=False)
        renderer.close()
        from rasterio.env import get_gdal_config

        cache_mb = round(int(get_gdal_config("GDAL_CACHEMAX") or 0) / (1 << 20))
        out.write(json.dumps({"done": True, "gdal_cache_mb": cache_mb}) + "\n")
        out.flush()
        return 0
    except Exception as exc:  # reported to the parent, which fails the processing
        from rasterio.errors import RasterioError

        from gpf_flow.processings.disk_errors import describe_os_error

        if isinstance(exc, OSError):  # a full disk, a permission: the file and the cause
            error = describe_os_error(exc)
        else:
            prefix = (
                "reading the input rasters failed" if isinstance(exc, RasterioError) else type(exc).__name__
            )
            error = f"{prefix}: {describe_error(exc)}"
        out.write(json.dumps({"error": error}) + "\n")
        out.flush()
        # after the report: stderr is a file in the scratch folder, maybe on the disk that is full
        with contextlib.suppress(OSError):
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    code = _child_main()
    # Everything is written and closed: skip the interpreter's teardown (≈ 30 ms of CPU per worker
    # unloading numpy, rasterio and GDAL) that no one waits for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
