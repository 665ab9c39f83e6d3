"""Following one processing execution to its end: the official SDK's own code vs gpf-flow's follower.

For each follower, a fresh ``gpf-flow serve`` (its own home) receives the ``raster-sample`` upload,
then ``--runs`` raster pyramid executions (the same body each time) are created, launched and
followed to their end, one at a time, by a child process running:

- **official SDK**: ``ProcessingExecutionAction.run`` then ``monitoring_until_end`` with the
  callback its ``workflow`` command passes (``PrintLogHelper.print(execution.api_logs())``): a
  status GET every ``nb_sec_between_check_updates`` seconds and the whole log read again at each
  check, nothing patched. Twice: with the SDK's shipped default (10 s, the baseline) and with the
  1 s that ``gpf-flow serve --write-sdk-config`` writes for a local server;
- **gpf-flow**: ``GeoplateformeStore`` then :func:`gpf_flow.store.follow.follow_execution` with
  the schedule the run engine uses on that store (``PollSchedule(maximum=store.poll_interval)``).

Counted from the server's request log, from the launch of the execution on: the GETs of the
execution (status) and of its logs, and their response bytes; creation and launch are not
counted. End noticed: from the moment the execution really ended (the bench reads the store's
SQLite every 20 ms, no HTTP) to the first status GET after it. Printed per follower: the medians
over the runs, then the ratios of each to the SDK at its default cadence.

The children run with ``python -P`` so that this folder's ``requests.py`` does not shadow the
``requests`` library the SDK uses.

Run: ``.venv/bin/python bench/follow_execution.py [--runs 3] [--bottom-level 19]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# appended, not first: the SDK children run with -P so that bench/requests.py never shadows the
# `requests` library, and this keeps it that way
sys.path.append(str(Path(__file__).resolve().parent))
from logged_server import EndOracle, LoggedServer  # noqa: E402

RASTER_PROCESSING = "Calcul ou mise à jour de pyramide raster"
SDK_DEFAULT, SDK_LOCAL, GPF_FLOW = "SDK (10 s, default)", "SDK (1 s, serve's ini)", "gpf-flow"
FOLLOWERS = (SDK_DEFAULT, SDK_LOCAL, GPF_FLOW)


def body(upload_id: str, processing_id: str, name: str, bottom_level: str) -> dict[str, Any]:
    """The processing execution both followers create: a JPEG PM pyramid of the upload."""
    return {
        "processing": processing_id,
        "inputs": {"upload": [upload_id]},
        "output": {"stored_data": {"name": name}},
        "parameters": {"tms": "PM", "compression": "jpg", "bottom_level": bottom_level, "top_level": "5"},
    }


# -- the children: each creates, launches and follows one execution, then prints its id --------


def sdk_default_config(config: Path) -> Path:
    """A copy of the server's SDK config without its cadence: the SDK's shipped 10 s applies."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config, encoding="utf-8")
    parser.remove_section("processing_execution")
    target = config.with_name("config-sdk-default.ini")
    with target.open("w", encoding="utf-8") as f:
        parser.write(f)
    return target


def follow_with_sdk(config: Path, execution_body: dict[str, Any]) -> str:
    """The official SDK's own creation, launch and follow loop, as its ``workflow`` command runs them."""
    from sdk_entrepot_gpf.helper.PrintLogHelper import PrintLogHelper
    from sdk_entrepot_gpf.io.Config import Config
    from sdk_entrepot_gpf.workflow.action.ProcessingExecutionAction import ProcessingExecutionAction

    Config().read(config)
    action = ProcessingExecutionAction(
        "bench", {"type": "processing-execution", "body_parameters": execution_body}
    )
    action.run()
    PrintLogHelper.reset()

    def callback_run_step(execution: Any) -> None:
        """The callback of the SDK's ``workflow`` command (scripts/workflow.py), as it is written."""
        try:
            PrintLogHelper.print(execution.api_logs())
        except Exception:
            PrintLogHelper.print("Logs indisponibles pour le moment...")

    action.monitoring_until_end(callback=callback_run_step)
    assert action.processing_execution is not None
    return str(action.processing_execution.id)


def follow_with_gpf_flow(config: Path, execution_body: dict[str, Any]) -> str:
    """gpf-flow's follower, on the schedule the run engine uses for this store."""
    from gpf_flow.store.follow import PollSchedule, follow_execution
    from gpf_flow.store.geoplateforme import GeoplateformeStore, load_settings

    with GeoplateformeStore(load_settings(config, env={})) as store:
        execution = store.create_processing_execution(execution_body)
        store.launch_processing_execution(execution["_id"])
        follow_execution(
            store,
            execution["_id"],
            on_lines=lambda _offset, lines: print(*lines, sep="\n"),
            schedule=PollSchedule(maximum=store.poll_interval),
        )
    return str(execution["_id"])


# -- the measure --------------------------------------------------------------------------------


@dataclass
class Run:
    """What following one execution cost."""

    status_gets: int
    log_gets: int
    body_bytes: int
    end_noticed: float
    length: float

    @property
    def requests(self) -> int:
        return self.status_gets + self.log_gets


def _timestamp(line: dict[str, str]) -> float:
    return datetime.strptime(line["date"], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def cost(lines: list[dict[str, str]], execution_id: str, ended: float) -> Run:
    """The following requests of one execution in the server's log, from its launch on."""
    base = f"/processings/executions/{execution_id}"
    launch = next(
        i
        for i, line in enumerate(lines)
        if line["method"] == "POST" and line["path"].endswith(f"{base}/launch")
    )
    following = [line for line in lines[launch + 1 :] if line["method"] == "GET" and base in line["path"]]
    status = [line for line in following if line["path"].split("?")[0].endswith(base)]
    logs = [line for line in following if f"{base}/logs" in line["path"]]
    after = [_timestamp(line) for line in status if _timestamp(line) >= ended - 0.05]
    return Run(
        status_gets=len(status),
        log_gets=len(logs),
        body_bytes=sum(int(line["bytes"] or 0) for line in following),
        end_noticed=min(after) - ended if after else float("nan"),
        length=ended - _timestamp(lines[launch]),
    )


def deliver(server: LoggedServer, folder: Path) -> tuple[str, str]:
    """The raster-sample upload delivered to the server's home: (upload id, pyramid processing id)."""
    from gpf_flow.store.geoplateforme import GeoplateformeStore, load_settings

    env = {**os.environ, "GPF_FLOW_HOME": str(server.home), "GPF_FLOW_STORE": "local"}
    for args in (
        ["dataset", "get", "raster-sample"],
        ["upload", "-f", "raster-sample/upload_descriptor.jsonc"],
    ):
        subprocess.run(
            [sys.executable, "-m", "gpf_flow", *args], cwd=folder, env=env, check=True, capture_output=True
        )
    with GeoplateformeStore(load_settings(server.config, env={})) as store:
        upload = store.list_entities("upload", {}).items[0]
        processing = store.list_entities("processing", {"name": RASTER_PROCESSING}).items[0]
    return str(upload["_id"]), str(processing["_id"])


def measure(follower: str, tmp: Path, runs: int, bottom_level: str) -> list[Run]:
    """Follow ``runs`` executions with one follower on a fresh server."""
    folder = tmp / follower.replace(" ", "-")
    folder.mkdir()
    server = LoggedServer(folder)
    oracle = EndOracle(server.home)
    oracle.start()
    try:
        upload_id, processing_id = deliver(server, folder)
        ids = []
        for run in range(runs):
            execution_body = body(upload_id, processing_id, f"BENCH_FOLLOW_{run}", bottom_level)
            config = sdk_default_config(server.config) if follower == SDK_DEFAULT else server.config
            cmd = [sys.executable, "-P", __file__, "--child", follower, "--config", str(config)]
            done = subprocess.run(
                [*cmd, "--body", json.dumps(execution_body)], cwd=folder, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"{follower} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            ids.append(done.stdout.strip().splitlines()[-1])
        time.sleep(0.5)  # the last requests reach the log
    finally:
        oracle.stop.set()
        oracle.join()
        server.stop()
    lines = server.requests_since()
    return [cost(lines, execution_id, oracle.ended[execution_id]) for execution_id in ids]


def main() -> None:
    """Measure both followers, or (``--child``) be one of them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="executions followed by each follower")
    parser.add_argument("--bottom-level", default="19", help="pyramid bottom level (longer when deeper)")
    parser.add_argument("--child", choices=FOLLOWERS, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--body", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = follow_with_gpf_flow if args.child == GPF_FLOW else follow_with_sdk
        print(child(args.config, json.loads(args.body)))
        return

    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="gpf-bench-follow-"))
    try:
        results = {follower: measure(follower, tmp, args.runs, args.bottom_level) for follower in FOLLOWERS}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    after = os.getloadavg()
    print(
        f"{args.runs} raster pyramid executions (levels 5-{args.bottom_level}) per follower, each on a "
        f"fresh gpf-flow serve; {os.cpu_count()} cores, load average {load[0]:.1f} -> {after[0]:.1f}"
    )
    print("medians over the runs, requests counted by the server from the launch on:")
    rows = (
        ("execution length (s)", lambda r: r.length, "{:.2f}"),
        ("status GETs", lambda r: r.status_gets, "{:.0f}"),
        ("log GETs", lambda r: r.log_gets, "{:.0f}"),
        ("requests", lambda r: r.requests, "{:.0f}"),
        ("requests per 10 s followed", lambda r: 10 * r.requests / (r.length + r.end_noticed), "{:.1f}"),
        ("response bytes", lambda r: r.body_bytes, "{:.0f}"),
        ("end noticed after (s)", lambda r: r.end_noticed, "{:.2f}"),
    )
    heads = ("SDK 10 s", "SDK 1 s", "gpf-flow", "gpf-flow/SDK 10 s", "gpf-flow/SDK 1 s")
    print(f"  {'':26}" + "".join(f"{head:>18}" for head in heads))
    for label, get, form in rows:
        sdk_default, sdk_local, ours = (statistics.median(map(get, results[name])) for name in FOLLOWERS)
        cells = [form.format(value) for value in (sdk_default, sdk_local, ours)]
        cells += [f"{ours / base:.2f}" if base else "-" for base in (sdk_default, sdk_local)]
        print(f"  {label:26}" + "".join(f"{cell:>18}" for cell in cells))
    print(f"  SDK 10 s = {SDK_DEFAULT}; SDK 1 s = {SDK_LOCAL}")


if __name__ == "__main__":
    main()
