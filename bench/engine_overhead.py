"""Engine overhead, measured side by side on the local store (prints medians and ratios).

1. Per action: ``gpf_flow.run`` of N one-action steps running a no-op processing, against a
   plain loop doing the same store calls (create, launch, poll until the end, read the logs).
2. Store calls made by one ``processing-execution`` action (template resolution included).
3. Delay between a processing's work ending and the runner noticing it (work lengths are varied
   so that endings fall anywhere between two polls).

Run: ``.venv/bin/python bench/engine_overhead.py [N]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gpf_flow.processings.base import ProcessingContext, ProcessingResult, ProcessingSpec


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


def plain_loop(store: Any, pid: str, name: str) -> None:
    """The same work with direct store calls and a tight poll."""
    execution = store.create_processing_execution(
        {
            "processing": pid,
            "inputs": {},
            "output": {"stored_data": {"name": name}},
            "parameters": {"seconds": 0},
        }
    )
    store.launch_processing_execution(execution["_id"])
    offset = 0
    while True:
        status = store.get_entity("processing_execution", execution["_id"])["status"]
        offset += len(store.processing_execution_logs(execution["_id"], start=offset))
        if status in ("SUCCESS", "FAILURE", "ABORTED"):
            return
        time.sleep(0.05)


def main() -> None:
    from gpf_flow import events as ev
    from gpf_flow import run
    from gpf_flow.engine.options import RunOptions
    from gpf_flow.store.local import LocalStore

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = LocalStore(folder / "home", extra_processings=[NOOP], workers=2)
        try:
            pid = store.list_entities("processing", {"name": "Bench no-op"}).items[0]["_id"]
            plain_loop(store, pid, "warmup")

            # 1. overhead per action
            plain: list[float] = []
            for i in range(n):
                start = time.perf_counter()
                plain_loop(store, pid, f"plain_{i}")
                plain.append(time.perf_counter() - start)
            ours: list[float] = []
            for i in range(n):
                wf = workflow(folder, {"s": {"actions": [action(f"ours_{i}")]}}, f"wf{i}")
                start = time.perf_counter()
                result = run(wf, store, RunOptions(state_path=folder / "runs.sqlite"))
                ours.append(time.perf_counter() - start)
                assert result.status == "success", result.failed
            p, o = statistics.median(plain), statistics.median(ours)
            print(f"per action (no-op processing, n={n}):")
            print(f"  plain store loop   median {p * 1000:8.1f} ms")
            print(f"  gpf_flow.run       median {o * 1000:8.1f} ms   ratio {o / p:.2f}x")

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
