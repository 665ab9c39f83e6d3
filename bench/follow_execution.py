"""Following one processing execution to its end: gpf-flow's Géoplateforme store vs the official SDK.

Starts a local ``gpf-flow serve``, delivers the ``raster-sample`` dataset through
``GeoplateformeStore``, launches a real raster pyramid execution (``--runs`` times, 3 by default)
and follows each one four ways at the same time:

- **oracle**: polls the status every 20 ms (not counted) to know when the execution really ended;
- **gpf-flow**: :func:`gpf_flow.store.follow.follow_execution`, the follower the run engine uses
  (status GET + only the log pages holding new lines) with its default adaptive poll (0.2 s,
  ×1.5 while nothing new happens, up to 5 s);
- **gpf-flow at 10 s**: the same follower on the SDK's fixed 10 s cadence, to separate what the
  reading protocol saves from what the cadence changes;
- **SDK baseline**: the official SDK's loop reimplemented (``ProcessingExecutionAction`` +
  ``LogsInterface``): every 10 s a status GET, then ``logs?page=1&limit=2000`` to read
  ``Content-Range``, then every page 1..N again (the whole log each time).

To keep the bench short every interval (ours and the SDK's) is multiplied by ``--scale``
(default 0.1: the SDK's 10 s becomes 1 s); the output says so. Printed: HTTP requests, response
body bytes and the delay between the real end and the moment each follower noticed it (mean over
the runs), with ratios. The sample's pyramid logs ~25 lines: the SDK's whole-log re-reads cost more
as logs grow (quadratic), ours stay linear.

Run: ``.venv/bin/python bench/follow_execution.py [--scale 0.1] [--bottom-level 19]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gpf_flow.store import ops
from gpf_flow.store.base import EXECUTION_TERMINAL
from gpf_flow.store.follow import PollSchedule, follow_execution
from gpf_flow.store.geoplateforme import GeoplateformeStore, GpfSettings, load_settings

TOKEN_PATH = "/realms/geoplateforme/protocol/openid-connect/token"
RASTER_PROCESSING = "Calcul ou mise à jour de pyramide raster"


@dataclass
class Outcome:
    """What one follower cost and when it noticed the end."""

    requests: int = 0
    body_bytes: int = 0
    noticed_at: float = 0.0
    lines: int = 0
    status: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    config = tmp / "config.ini"
    cmd = [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(tmp / "home")]
    cmd += ["--write-sdk-config", str(config)]
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"gpf-flow serve exited:\n{(tmp / 'server.log').read_text()}")
        try:
            httpx.post(f"http://127.0.0.1:{port}{TOKEN_PATH}", data={"grant_type": "password"}, timeout=2)
            return process, port, config
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("gpf-flow serve did not answer in 60 s") from None
            time.sleep(0.1)


def deliver_raster_sample(store: GeoplateformeStore, tmp: Path) -> str:
    from gpf_flow.datasets import write_dataset

    folder = Path(write_dataset("raster-sample", tmp / "data"))
    upload = store.create_entity(
        "upload", {"name": f"BENCH_RASTER_{os.getpid()}", "type": "RASTER", "srs": "EPSG:2154"}
    )
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.parent != folder:
            ops.upload_push_file(store, upload["_id"], path, path.relative_to(folder).as_posix())
        elif path.is_file() and path.suffix == ".md5":
            ops.upload_push_md5(store, upload["_id"], path)
    store.upload_close(upload["_id"])
    while not ops.upload_checks(store, upload["_id"]).finished:
        time.sleep(0.2)
    return str(upload["_id"])


def follow_like_the_sdk(
    api: str, ds: str, token: str, execution_id: str, interval: float, out: Outcome
) -> None:
    """The official SDK's follow loop: status, then the whole log (page 1 for the total, then 1..N)."""
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    base = f"{api}/datastores/{ds}/processings/executions/{execution_id}"
    with httpx.Client(headers=headers, timeout=60) as client:

        def get(url: str, **params: int) -> httpx.Response:
            response = client.get(url, params=params or None)
            out.requests += 1
            out.body_bytes += len(response.content)
            response.raise_for_status()
            return response

        def read_whole_log() -> list[str]:
            first = get(f"{base}/logs", page=1, limit=2000)
            total = int(first.headers["Content-Range"].rsplit("/", 1)[1])
            lines: list[str] = []
            for page in range(1, math.ceil(total / 2000) + 1):
                lines += get(f"{base}/logs", page=page, limit=2000).json()
            return lines

        while True:
            status = get(base).json()["status"]
            if status in EXECUTION_TERMINAL:
                out.noticed_at = time.monotonic()
                out.status = status
                out.lines = len(read_whole_log())  # the SDK prints the final logs once more
                return
            read_whole_log()
            time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="multiplier of every poll interval")
    parser.add_argument("--bottom-level", default="19", help="pyramid bottom level (longer when deeper)")
    parser.add_argument("--runs", type=int, default=3, help="executions followed (delays are averaged)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gpf-bench-follow-") as tmp_name:
        tmp = Path(tmp_name)
        process, _port, config = start_server(tmp)
        try:
            bench(config, tmp, args.scale, args.bottom_level, args.runs)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def follow_once(
    settings: GpfSettings, upload_id: str, processing_id: str, run: int, scale: float, bottom_level: str
) -> tuple[float, dict[str, Outcome], list[str]]:
    """Launch one execution and follow it three ways at once; returns its length and the outcomes."""
    setup = GeoplateformeStore(settings)
    execution = setup.create_processing_execution(
        {
            "processing": processing_id,
            "inputs": {"upload": [upload_id]},
            "output": {"stored_data": {"name": f"BENCH_PYRAMID_{run}"}},
            "parameters": {"tms": "PM", "compression": "jpg", "bottom_level": bottom_level, "top_level": "5"},
        }
    )
    execution_id = str(execution["_id"])
    token = setup.client.tokens.get()
    url = f"{settings.root_url}/datastores/{setup.datastore_id}/processings/executions/{execution_id}"
    outcomes = {"gpf-flow": Outcome(), "gpf-flow 10s": Outcome(), "SDK baseline": Outcome()}
    log_lines: list[str] = []
    real_end: list[float] = []

    def oracle() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while client.get(url).json()["status"] not in EXECUTION_TERMINAL:
                time.sleep(0.02)
            real_end.append(time.monotonic())

    def follow_ours(schedule: PollSchedule, out: Outcome, lines: list[str]) -> None:
        store = GeoplateformeStore(settings)
        store.client.tokens.get()  # token requests are not what is measured
        final = follow_execution(
            store, execution_id, on_lines=lambda _offset, new: lines.extend(new), schedule=schedule
        )
        out.noticed_at = time.monotonic()
        out.status = str(final["status"])
        out.lines = len(lines)
        out.requests = store.client.stats.requests
        out.body_bytes = store.client.stats.bytes_received
        store.close()

    default = PollSchedule()
    ours_schedule = PollSchedule(default.first * scale, default.factor, default.maximum * scale)
    fixed_schedule = PollSchedule(10.0 * scale, 1.0, 10.0 * scale)
    threads = [
        threading.Thread(target=oracle),
        threading.Thread(target=follow_ours, args=(ours_schedule, outcomes["gpf-flow"], log_lines)),
        threading.Thread(target=follow_ours, args=(fixed_schedule, outcomes["gpf-flow 10s"], [])),
        threading.Thread(
            target=follow_like_the_sdk,
            args=(
                settings.root_url,
                setup.datastore_id,
                token,
                execution_id,
                10.0 * scale,
                outcomes["SDK baseline"],
            ),
        ),
    ]
    started = time.monotonic()
    setup.launch_processing_execution(execution_id)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    setup.close()
    end = real_end[0]
    for outcome in outcomes.values():
        outcome.noticed_at -= end  # from now on: the delay after the real end
    return end - started, outcomes, log_lines


def bench(config: Path, tmp: Path, scale: float, bottom_level: str, runs: int) -> None:
    settings = load_settings(config, env={})
    with GeoplateformeStore(settings) as setup:
        upload_id = deliver_raster_sample(setup, tmp)
        processing_id = str(setup.list_entities("processing", {"name": RASTER_PROCESSING}).items[0]["_id"])
    totals = {name: Outcome() for name in ("gpf-flow", "gpf-flow 10s", "SDK baseline")}
    lengths: list[float] = []
    line_counts: list[int] = []
    for run in range(runs):
        length, outcomes, log_lines = follow_once(
            settings, upload_id, processing_id, run, scale, bottom_level
        )
        statuses = {o.status for o in outcomes.values()}
        if statuses != {"SUCCESS"}:
            print("an execution did not succeed; its last log lines:", *log_lines[-5:], sep="\n  ")
        assert len({o.lines for o in outcomes.values()}) == 1, "followers saw different logs"
        lengths.append(length)
        line_counts.append(len(log_lines))
        for name, outcome in outcomes.items():
            totals[name].requests += outcome.requests
            totals[name].body_bytes += outcome.body_bytes
            totals[name].noticed_at += outcome.noticed_at / runs

    default = PollSchedule()
    print(
        f"{runs} raster pyramid executions (mean {sum(lengths) / runs:.2f} s, {line_counts} log lines) "
        "each followed to its end by three followers at once, on a local gpf-flow serve."
    )
    print(
        f"Intervals scaled by {scale:g} to keep the bench short: SDK fixed poll {10 * scale:g} s "
        f"(really 10 s); gpf-flow adaptive {default.first * scale:g}→{default.maximum * scale:g} s "
        f"(really {default.first:g}→{default.maximum:g} s); "
        "'gpf-flow 10s' = our follower at the SDK's cadence."
    )
    print(f"{'totals':16}{'HTTP requests':>15}{'body bytes':>14}{'mean end delay':>17}")
    for name, outcome in totals.items():
        print(f"{name:16}{outcome.requests:>15}{outcome.body_bytes:>14}{outcome.noticed_at:>16.3f}s")
    sdk, ours, fixed = totals["SDK baseline"], totals["gpf-flow"], totals["gpf-flow 10s"]
    print(
        f"ratios SDK / gpf-flow: requests {sdk.requests / max(1, ours.requests):.2f}x, "
        f"bytes {sdk.body_bytes / max(1, ours.body_bytes):.2f}x, "
        f"end delay {sdk.noticed_at / max(1e-3, ours.noticed_at):.2f}x"
    )
    print(
        "ratios SDK / gpf-flow at the same 10 s cadence: "
        f"requests {sdk.requests / max(1, fixed.requests):.2f}x, "
        f"bytes {sdk.body_bytes / max(1, fixed.body_bytes):.2f}x, "
        f"end delay {sdk.noticed_at / max(1e-3, fixed.noticed_at):.2f}x"
    )
    report = {
        name: {"requests": o.requests, "body_bytes": o.body_bytes, "mean_end_delay_s": round(o.noticed_at, 3)}
        for name, o in totals.items()
    }
    rounded = [round(length, 2) for length in lengths]
    print(json.dumps({"scale": scale, "runs": runs, "lengths_s": rounded, "followers": report}))


if __name__ == "__main__":
    main()
