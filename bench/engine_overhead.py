"""Engine overhead, measured side by side on the local store (prints medians and ratios).

1. Per action: ``gpf_flow.run`` of N one-action workflows running a no-op processing, against
   the same store calls made directly (create, launch, poll until the end, read the logs), polled
   two ways: every 50 ms, and with the follower gpf-flow itself uses (0.2 s, then ×1.5 up to
   0.3 s on the local store). Wall time per action mostly measures the poll cadence (the no-op
   ends within milliseconds; the first poll after it decides); CPU time of this process measures
   the engine's own work (run state, template resolution, events). The processing itself runs in
   the store's worker processes, outside both figures.
2. Store calls made by one ``processing-execution`` action (template resolution included).
3. Delay between a processing's work ending and the runner noticing it (work lengths are varied
   so that endings fall anywhere between two polls).

Run: ``.venv/bin/python bench/engine_overhead.py [N]``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpf_flow.processings.base import ProcessingContext, ProcessingResult, ProcessingSpec
from gpf_flow.store.follow import PollSchedule, follow_execution


def noop(ctx: ProcessingContext) -> ProcessingResult:
    """Sleep ``seconds`` (checking for abort), then log the wall-clock time the work ended."""
    end = time.monotonic() + float(ctx.parameters.get("seconds", 0))
    while time.monotonic() < end:
        ctx.check_abort()
        time.sleep(min(0.02, max(0.0, end - time.monotonic())))
    ctx.log(f"END {time.time():.6f}")
    return ProcessingResult()


NOOP = ProcessingSpec(
    name="Bench no-op",
    description="does nothing",
    input_upload_types=(),
    input_stored_data_types=(),
    output_type="ARCHIVE",
    storage="FILESYSTEM",
    parameters=(),
    run="engine_overhead:noop",
)
PROCESSING = "{store_entity.processing.infos._id [INFOS(name=Bench no-op)]}"


def action(name: str, seconds: float = 0.0) -> dict[str, Any]:
    return {
        "type": "processing-execution",
        "body_parameters": {
            "processing": PROCESSING,
            "inputs": {},
            "output": {"stored_data": {"name": name}},
            "parameters": {"seconds": seconds},
        },
    }


def workflow(folder: Path, steps: dict[str, Any], name: str) -> Any:
    from gpf_flow import load_workflow

    path = folder / f"{name}.json"
    path.write_text(json.dumps({"workflow": {"steps": steps}}))
    return load_workflow(path)


class Counting:
    """A store proxy counting the calls made through it (one call = one API request)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or name.startswith("_") or name in ("close", "for_datastore"):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return value(*args, **kwargs)

        return counted


def plain_loop(store: Any, pid: str, name: str, schedule: PollSchedule | None = None) -> None:
    """The same work with direct store calls: polled every 50 ms, or by the follower with ``schedule``."""
    execution = store.create_processing_execution(
        {
            "processing": pid,
            "inputs": {},
            "output": {"stored_data": {"name": name}},
            "parameters": {"seconds": 0},
        }
    )
    store.launch_processing_execution(execution["_id"])
    if schedule is not None:
        follow_execution(store, execution["_id"], schedule=schedule)
        return
    offset = 0
    while True:
        status = store.get_entity("processing_execution", execution["_id"])["status"]
        offset += len(store.processing_execution_logs(execution["_id"], start=offset))
        if status in ("SUCCESS", "FAILURE", "ABORTED"):
            return
        time.sleep(0.05)


@contextmanager
def timed(into: list[tuple[float, float]]) -> Iterator[None]:
    """Append (wall seconds, CPU seconds of this process) of the block to ``into``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append((time.perf_counter() - wall, time.process_time() - cpu))


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """(median wall, median CPU)."""
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def main() -> None:
    from gpf_flow import events as ev
    from gpf_flow import run
    from gpf_flow.engine.options import RunOptions
    from gpf_flow.store.local import LocalStore

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = LocalStore(folder / "home", extra_processings=[NOOP], workers=2)
        try:
            pid = store.list_entities("processing", {"name": "Bench no-op"}).items[0]["_id"]
            plain_loop(store, pid, "warmup")

            # 1. overhead per action: (wall, CPU of this process) per one-action run
            same_schedule = PollSchedule(maximum=0.3)  # what the runner uses on the local store
            fast: list[tuple[float, float]] = []
            followed: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            for i in range(n):
                with timed(fast):
                    plain_loop(store, pid, f"plain_{i}")
                with timed(followed):
                    plain_loop(store, pid, f"followed_{i}", same_schedule)
                wf = workflow(folder, {"s": {"actions": [action(f"ours_{i}")]}}, f"wf{i}")
                with timed(ours):
                    result = run(wf, store, RunOptions(state_path=folder / "runs.sqlite"))
                assert result.status == "success", result.failed
            (fw, fc), (sw, sc), (ow, oc) = (medians(fast), medians(followed), medians(ours))
            print(f"per one-action workflow (no-op processing), median of n={n}:")
            print(f"  {'':52} {'wall ms':>8} {'CPU ms':>7}")
            print(f"  {'direct store calls, polled every 50 ms':52} {fw * 1000:8.1f} {fc * 1000:7.1f}")
            print(f"  {'direct store calls, polled as gpf-flow polls':52} {sw * 1000:8.1f} {sc * 1000:7.1f}")
            print(f"  {'gpf_flow.run':52} {ow * 1000:8.1f} {oc * 1000:7.1f}")
            print(
                f"  wall, gpf_flow.run / direct calls polled every 50 ms: {ow / fw:.2f}x (the poll cadence)"
            )
            print(f"  wall, gpf_flow.run / direct calls polled the same way: {ow / sw:.2f}x")
            print(
                f"  CPU of the engine per action: {(oc - sc) * 1000:.1f} ms ({oc / sc:.2f}x the direct calls)"
            )

            # 2. store calls per processing execution
            counting = Counting(store)
            wf = workflow(folder, {"s": {"actions": [action("counted")]}}, "counted")
            run(wf, counting, RunOptions(state_path=folder / "runs.sqlite"))  # type: ignore[arg-type]
            total = sum(counting.calls.values())
            print(f"store calls for one processing-execution action: {total}")
            for name, count in counting.calls.most_common():
                print(f"  {name:32} {count}")

            # 3. end of work -> runner notices
            delays: list[float] = []
            for i in range(n):
                seconds = 0.3 + 1.7 * i / max(n - 1, 1)
                wf = workflow(folder, {"s": {"actions": [action(f"late_{i}", seconds)]}}, f"late{i}")
                seen: list[ev.Event] = []
                run(wf, store, RunOptions(state_path=folder / "runs.sqlite"), on_event=seen.append)
                end = next(
                    float(e.line.split("END ")[1])
                    for e in seen
                    if isinstance(e, ev.LogLine) and "END " in e.line
                )
                noticed = next(
                    e.at for e in seen if isinstance(e, ev.StatusChanged) and e.status == "SUCCESS"
                )
                delays.append(noticed - end)
            print(f"delay from the end of the work to the runner noticing it (work 0.3-2.0 s, n={n}):")
            print(f"  median {statistics.median(delays) * 1000:.0f} ms   max {max(delays) * 1000:.0f} ms")
        finally:
            store.close()


if __name__ == "__main__":
    main()
