"""A separate process acting on a local store home (run by the concurrency and crash tests).

Usage: ``python store_test_actor.py MODE HOME [ARGS...]``:
- ``write HOME NAME N SHARED_ID``: create N uploads (tags + comments) and merge a tag into SHARED_ID each time
- ``run HOME SECONDS``: create an upload and a slow execution, launch it, print ids, keep waiting
- ``open HOME``: open (create) the home, print the datastore id and the number of processings
- ``push HOME TMP``: push a small file, then a big one slowly (to be killed in the middle)
- ``check HOME TMP [serial]``: create a RASTER upload, close it (slow check), print its id, keep waiting
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_test_procs import C_OK, C_SLOW, P_SLOW, TEST_CHECKS, TEST_PROCESSINGS  # noqa: E402

from gpf_flow.store.local import LocalStore  # noqa: E402


def write(home: str, name: str, count: int, shared: str) -> None:
    store = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS)
    for i in range(count):
        up = store.create_entity("upload", {"name": f"{name}-{i}", "type": "VECTOR", "srs": "EPSG:2154"})
        store.add_tags("upload", up["_id"], {"writer": name, "i": str(i)})
        store.add_comment("upload", up["_id"], f"{name} {i}")
        store.add_tags("upload", shared, {f"{name}-{i}": "1"})
    store.close()


def run(home: str, seconds: str, tmp: str) -> None:
    store = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS, workers=1)
    up = store.create_entity("upload", {"name": "K", "type": "VECTOR", "srs": "EPSG:2154"})
    src = Path(tmp) / "f.shp"
    src.write_bytes(b"x")
    store.upload_push_file(up["_id"], src, "f.shp")
    ex = store.create_processing_execution(
        {
            "processing": P_SLOW.id,
            "inputs": {"upload": [up["_id"]]},
            "output": {"stored_data": {"name": "KILLED"}},
            "parameters": {"seconds": float(seconds), "started_file": str(Path(tmp) / "worker.pid")},
        }
    )
    store.launch_processing_execution(ex["_id"])
    print(json.dumps({"execution": ex["_id"], "stored_data": ex["output"]["stored_data"]["_id"]}), flush=True)
    while store.get_entity("processing_execution", ex["_id"])["status"] not in (
        "SUCCESS",
        "FAILURE",
        "ABORTED",
    ):
        time.sleep(0.1)
    store.close()


def check(home: str, tmp: str, serial: bool = False) -> None:
    if serial:  # one worker, the slow check first: the other one stays WAITING
        store = LocalStore(home, checks=(C_SLOW, C_OK), workers=1)
    else:
        store = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS, workers=2)
    up = store.create_entity("upload", {"name": "R", "type": "RASTER", "srs": "EPSG:2154"})
    src = Path(tmp) / "r.tif"
    src.write_bytes(b"x")
    store.upload_push_file(up["_id"], src, "r.tif")
    store.upload_close(up["_id"])
    print(json.dumps({"upload": up["_id"]}), flush=True)
    while store.get_entity("upload", up["_id"])["status"] == "CHECKING":
        time.sleep(0.1)
    store.close()


def push(home: str, tmp: str) -> None:
    store = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS)
    up = store.create_entity("upload", {"name": "P", "type": "VECTOR", "srs": "EPSG:2154"})
    small = Path(tmp) / "small.shp"
    small.write_bytes(b"s" * 100)
    store.upload_push_file(up["_id"], small, "D/small.shp")
    big = Path(tmp) / "big.shp"
    big.write_bytes(b"b" * (8 * 1024 * 1024))
    print(json.dumps({"upload": up["_id"]}), flush=True)

    def slow(_sent: int) -> None:
        print("progress", flush=True)
        time.sleep(0.5)

    store.upload_push_file(up["_id"], big, "D/big.shp", progress=slow)
    store.close()


def open_home(home: str) -> None:
    store = LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS)
    print(
        json.dumps({"datastore": store.datastore_id, "processings": store.list_entities("processing").total})
    )
    store.close()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "write":
        write(args[0], args[1], int(args[2]), args[3])
    elif mode == "run":
        run(args[0], args[1], args[2])
    elif mode == "open":
        open_home(args[0])
    elif mode == "push":
        push(args[0], args[1])
    elif mode == "check":
        check(args[0], args[1], serial=len(args) > 2 and args[2] == "serial")
    else:
        raise SystemExit(f"unknown mode {mode}")
