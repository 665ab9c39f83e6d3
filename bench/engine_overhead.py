"""Engine overhead: ``gpf_flow.run`` against the same store calls made directly, on the local store.

1. Workflows of 1 and of 10 chained steps, each step one ``processing-execution`` of a no-op
   processing, run by ``gpf_flow.run``; against a plain loop making the same store calls for each
   step (look the processing up by name, check the output name is free, create, launch, follow
   with gpf-flow's follower on the same schedule). Printed: median wall and CPU time of this
   process (the processing runs in the store's worker processes, outside both), their ratios, and
   the engine's own CPU per step (run state, template resolution, events, threads). Wall time is
   mostly the poll cadence, the same on both sides (the no-op ends within milliseconds, the first
   poll after it decides).
2. Store calls made by one ``processing-execution`` action (template resolution included).
3. Delay between a processing's work ending and the runner noticing it (work lengths are varied
   so that endings fall anywhere between two polls).

Run: ``.venv/bin/python bench/engine_overhead.py [N]`` (N repetitions, 10 by default; the 10-step
workflow is repeated N // 2 times).
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
TERMINAL = ("SUCCESS", "FAILURE", "ABORTED")
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
    """A store proxy counting the calls made through it (one call = one API request), and the wall
    time spent waiting for executions: from each launch to the read that sees the execution ended."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()
        self.waiting = 0.0
        self._launched: float | None = None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or name.startswith("_") or name in ("close", "for_datastore"):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            result = value(*args, **kwargs)
            if name in ("launch_processing_execution", "act"):
                self._launched = time.perf_counter()
            elif name == "get_entity" and self._launched is not None and result.get("status") in TERMINAL:
                self.waiting += time.perf_counter() - self._launched
                self._launched = None
            return result

        return counted


def plain_loop(store: Any, name: str, schedule: PollSchedule) -> None:
    """One step's store calls made directly, as the engine makes them for a processing-execution."""
    processing = store.list_entities("processing", {"name": NOOP.name}).items[0]["_id"]
    if store.list_entities("stored_data", {"name": name}, None, page=1, limit=10).items:
        raise SystemExit(f"stored data {name!r} exists")
    execution = store.create_processing_execution(
        {
            "processing": processing,
            "inputs": {},
            "output": {"stored_data": {"name": name}},
            "parameters": {"seconds": 0},
        }
    )
    store.launch_processing_execution(execution["_id"])
    follow_execution(store, execution["_id"], on_lines=lambda _offset, _lines: None, schedule=schedule)


def chain(prefix: str, steps: int) -> dict[str, Any]:
    """``steps`` one-action steps, each the child of the one before."""
    return {
        f"s{i}": {"actions": [action(f"{prefix}_{i}")], **({"parents": [f"s{i - 1}"]} if i else {})}
        for i in range(steps)
    }


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
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = LocalStore(folder / "home", extra_processings=[NOOP], workers=2)
        try:
            schedule = PollSchedule(maximum=store.poll_interval)  # what the runner uses on this store
            plain_loop(store, "warmup", schedule)

            # 1. the same steps through gpf_flow.run and as direct store calls
            print(
                "the same steps (one no-op processing-execution each) run two ways, medians, direct vs run:"
            )
            for steps, repeats in ((1, n), (10, max(1, n // 2))):
                direct: list[tuple[float, float]] = []
                ours: list[tuple[float, float]] = []
                waits: dict[str, list[float]] = {"direct": [], "run": []}
                direct_store, our_store = Counting(store), Counting(store)
                for i in range(repeats):
                    before = direct_store.waiting
                    with timed(direct):
                        for j in range(steps):
                            plain_loop(direct_store, f"direct_{steps}_{i}_{j}", schedule)
                    waits["direct"].append(direct[-1][0] - (direct_store.waiting - before))
                    wf = workflow(folder, chain(f"run_{steps}_{i}", steps), f"wf_{steps}_{i}")
                    before = our_store.waiting
                    with timed(ours):
                        options = RunOptions(state_path=folder / "runs.sqlite")
                        result = run(wf, our_store, options)  # type: ignore[arg-type]
                    waits["run"].append(ours[-1][0] - (our_store.waiting - before))
                    assert result.status == "success", result.failed
                (dw, dc), (ow, oc) = medians(direct), medians(ours)
                dx, ox = statistics.median(waits["direct"]), statistics.median(waits["run"])
                dn, on = (sum(c.calls.values()) / repeats for c in (direct_store, our_store))
                print(f"  {steps} step{'s' if steps > 1 else ''} (n={repeats}):")
                print(
                    f"    wall                    {dw * 1000:7.0f} vs {ow * 1000:7.0f} ms  ({ow / dw:.2f}x)"
                )
                print(
                    f"    wall outside the waits  {dx * 1000:7.1f} vs {ox * 1000:7.1f} ms  ({ox / dx:.2f}x)"
                )
                print(
                    f"    CPU of this process     {dc * 1000:7.1f} vs {oc * 1000:7.1f} ms  ({oc / dc:.2f}x)"
                )
                print(f"    store calls             {dn:7.0f} vs {on:7.0f}")
                print(
                    f"    the engine's own, per step: {(ox - dx) * 1000 / steps:.1f} ms wall, "
                    f"{(oc - dc) * 1000 / steps:.1f} ms CPU"
                )
            print(
                "  (the waits, from a launch to the read that sees the execution ended, are the poll"
                " cadence:\n   the no-op ends 0.1-0.3 s after its launch, seen at the first or second poll"
                " on both sides)"
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
            after = os.getloadavg()
            print(f"load average after: {after[0]:.1f} {after[1]:.1f} {after[2]:.1f}")
        finally:
            store.close()


if __name__ == "__main__":
    main()
