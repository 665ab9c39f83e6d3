"""API requests of the same workflow run by the official SDK and by gpf-flow, over HTTP.

For each client, a fresh ``gpf-flow serve`` (its own home) receives the ``raster-sample`` upload
(delivered before the measure), then the official ``generic_raster`` workflow's ``pyramide``,
``configuration-WMS`` and ``publication-WMS`` steps are run by:

- **SDK**: ``python -m sdk_entrepot_gpf workflow -f generic_raster.jsonc -s STEP`` for each step;
- **gpf-flow**: ``gpf-flow run generic_raster.jsonc --until publication-WMS --store geoplateforme``.

Both use the SDK ``config.ini`` the server writes. Counted from the server's request log: API
requests (``/api/...``) and response bytes; wall time of the client; the end-noticed delay, from
the moment the execution really ended (a bench thread reads the store's SQLite every 20 ms, no
HTTP) to the client's last status read of that execution. Then the ratios gpf-flow / SDK.

Run: ``.venv/bin/python bench/requests.py [--bottom-level 18]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from logged_server import EndOracle, LoggedServer

STEPS = ("pyramide", "configuration-WMS", "publication-WMS")


@dataclass
class Measure:
    """What one client cost."""

    requests: int = 0
    polls: int = 0
    log_reads: int = 0
    body_bytes: int = 0
    wall: float = 0.0
    end_noticed: float = float("nan")
    lines: list[dict[str, str]] = field(default_factory=list)


def _official_workflow(folder: Path, bottom: str) -> Path:
    import sdk_entrepot_gpf

    source = Path(sdk_entrepot_gpf.__file__).parent / "_data" / "workflows" / "generic_raster.jsonc"
    target = folder / "generic_raster.jsonc"
    text = source.read_text(encoding="utf-8").replace('"bottom": "18"', f'"bottom": "{bottom}"')
    target.write_text(text.replace('"bottom_level": "18"', f'"bottom_level": "{bottom}"'), encoding="utf-8")
    return target


def _measure(client: str, tmp: Path, bottom: str) -> Measure:
    folder = tmp / client
    folder.mkdir()
    server = LoggedServer(folder)
    try:
        env = {**os.environ, "GPF_FLOW_HOME": str(server.home), "GPF_FLOW_STORE": "local"}
        run = {"cwd": folder, "env": env, "check": True, "capture_output": True}
        subprocess.run([sys.executable, "-m", "gpf_flow", "dataset", "get", "raster-sample"], **run)  # type: ignore[call-overload]
        subprocess.run(  # type: ignore[call-overload]
            [sys.executable, "-m", "gpf_flow", "upload", "-f", "raster-sample/upload_descriptor.jsonc"], **run
        )
        workflow = _official_workflow(folder, bottom)
        oracle = EndOracle(server.home)
        oracle.start()
        offset = server.log_size()
        started = time.monotonic()
        if client == "sdk":
            sdk_env = {**env, "SDK_ENTREPOT_CONFIG_FILE": str(server.config)}
            for step in STEPS:
                cmd = [sys.executable, "-m", "sdk_entrepot_gpf", "--ini", str(server.config)]
                cmd += ["workflow", "-f", str(workflow), "-s", step]
                subprocess.run(
                    cmd, cwd=folder, env=sdk_env, check=True, capture_output=True, stdin=subprocess.DEVNULL
                )
        else:
            cmd = [sys.executable, "-m", "gpf_flow", "run", str(workflow), "--until", STEPS[-1]]
            cmd += ["--store", "geoplateforme", "--config", str(server.config), "-o", "json"]
            done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"gpf-flow run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        wall = time.monotonic() - started
        time.sleep(0.5)  # the last log lines reach the file
        oracle.stop.set()
        oracle.join()
        lines = server.requests_since(offset)
    finally:
        server.stop()
    measure = Measure(requests=len(lines), wall=wall, lines=lines)
    measure.body_bytes = sum(int(line["bytes"] or 0) for line in lines)
    for execution_id, ended in oracle.ended.items():
        reads = [
            datetime.strptime(line["date"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for line in lines
            if line["method"] == "GET"
            and line["path"].split("?")[0].endswith(f"/processings/executions/{execution_id}")
        ]
        measure.polls += len(reads)
        measure.log_reads += sum(1 for line in lines if f"/executions/{execution_id}/logs" in line["path"])
        after = [t for t in reads if t >= ended - 0.05]
        if after:
            measure.end_noticed = min(after) - ended
    return measure


def main() -> None:
    """Measure both clients and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bottom-level", default="18", help="bottom level of the pyramid (default 18)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gpf-bench-requests-"))
    try:
        sdk = _measure("sdk", tmp, args.bottom_level)
        ours = _measure("gpf-flow", tmp, args.bottom_level)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if os.environ.get("GPF_BENCH_VERBOSE"):
        for name, measure in (("sdk", sdk), ("gpf-flow", ours)):
            print(f"-- {name}")
            for line in measure.lines:
                print(f"   {line['method']} {re.sub(r'[0-9a-f-]{36}', 'ID', line['path'])}")
    if args.json:
        figures = {
            name: {k: v for k, v in m.__dict__.items() if k != "lines"}
            for name, m in (("sdk", sdk), ("gpf-flow", ours))
        }
        print(json.dumps(figures))
        return
    print(f"official generic_raster ({', '.join(STEPS)}), pyramid levels 0-{args.bottom_level}, over HTTP")
    print(f"{'':24}{'SDK':>12}{'gpf-flow':>12}{'ratio':>9}")
    rows = [
        ("API requests", sdk.requests, ours.requests),
        ("  execution status GETs", sdk.polls, ours.polls),
        ("  execution log GETs", sdk.log_reads, ours.log_reads),
        ("response bytes", sdk.body_bytes, ours.body_bytes),
        ("wall time (s)", round(sdk.wall, 2), round(ours.wall, 2)),
        ("end noticed after (s)", round(sdk.end_noticed, 2), round(ours.end_noticed, 2)),
    ]
    for label, a, b in rows:
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{label:24}{a:>12}{b:>12}{ratio:>9}")


if __name__ == "__main__":
    main()
