"""A full disk during a raster pyramid or a vector integration names the file and "No space left on
device" (issue 12).

Real full disks: each test mounts a small tmpfs (``mount -t tmpfs -o size=1M``, which needs
root; machines and CI run the tests as root) as the processing's output folder, or as the local
store's ``stored_data`` folder under a real execution, and unmounts it afterwards.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "processings"))

from processings_rasters import write_tiles  # noqa: E402
from processings_vectors import write_points_gpkg  # noqa: E402

from gpf_flow.processings import raster_pyramid, vector_db  # noqa: E402
from gpf_flow.processings.base import InputData, ProcessingContext, ProcessingFailed  # noqa: E402

RASTER = {"name": "R", "type": "RASTER", "srs": "EPSG:2154"}
# 600 m at 0.5 m, down to level 20: 42 jobs, about 250 bottom tiles.
PARAMS = {"compression": "png", "bottom": "20"}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the tests run as root on the project's machines and CI)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="module")
def ortho(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ortho")
    write_tiles(root / "ortho", 2, 600, 0.5)
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_full_output_disk_names_the_file(tiny_disk: Path, ortho: Path, workers: int, monkeypatch) -> None:
    logs: list[str] = []
    ctx = ProcessingContext(
        parameters=PARAMS,
        uploads=[InputData(entity=RASTER, path=ortho)],
        stored_data=[],
        output_dir=tiny_disk / "out",
        log=logs.append,
        is_aborted=threading.Event().is_set,
        output_entity={"name": "full"},
        workers=workers,
    )
    ctx.output_dir.mkdir()
    with pytest.raises(ProcessingFailed) as failed:
        raster_pyramid.run(ctx)
    message = str(failed.value)
    assert "No space left on device" in message, message
    assert f"writing {tiny_disk}/out/" in message, message  # the file: the tile database
    assert any("with 2 threads" in line for line in logs) == (workers > 1), logs
    assert list((tiny_disk / "out").iterdir()) == []  # nothing half-written is left behind


def test_full_disk_during_a_vector_update_names_the_file_and_keeps_the_old_data(
    tiny_disk: Path, tmp_path: Path
) -> None:
    vector = {"name": "V", "type": "VECTOR", "srs": "EPSG:2154"}
    out = tiny_disk / "out"
    out.mkdir()

    def integrate(points: int) -> None:
        source = tmp_path / f"points-{points}"
        write_points_gpkg(source / "p.gpkg", n=points, layer="Points")
        ctx = ProcessingContext(
            parameters={},
            uploads=[InputData(entity=vector, path=source)],
            stored_data=[],
            output_dir=out,
            log=lambda line: None,
            is_aborted=threading.Event().is_set,
            output_entity={"name": "full"},
            workers=1,
        )
        vector_db.run(ctx)

    integrate(20)  # fits: the stored data exists
    before = (out / "vector.gpkg").read_bytes()
    with pytest.raises(ProcessingFailed) as failed:
        integrate(60_000)  # an update (appended to a copy) that does not fit
    message = str(failed.value)
    assert "No space left on device" in message and f"writing {out}/" in message, message
    assert (out / "vector.gpkg").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["vector.gpkg"]


def test_full_store_disk_fails_the_execution_with_the_cause(
    tiny_disk: Path, ortho: Path, tmp_path: Path
) -> None:
    """The store's ``stored_data`` folder on the tiny disk: the execution's log says it."""
    from gpf_flow.processings.base import processing_id
    from gpf_flow.store.local import LocalStore

    home = tmp_path / "home"
    store = LocalStore(home, workers=1)
    try:
        upload = store.create_entity(
            "upload", {"name": "FULL", "description": "d", "type": "RASTER", "srs": "EPSG:2154"}
        )
        lines = []
        for path in sorted(p for p in ortho.rglob("*.tif")):
            rel = path.relative_to(ortho).as_posix()
            store.upload_push_file(upload["_id"], path, rel)
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel}\n")
        md5 = tmp_path / "full.md5"
        md5.write_text("".join(lines), encoding="utf-8")
        store.upload_push_md5(upload["_id"], md5)
        store.upload_close(upload["_id"])
        status = wait(lambda: (s := store.get_entity("upload", upload["_id"])["status"]) != "CHECKING" and s)
        assert status == "CLOSED"
        stored = home / "stored_data"
        stored.mkdir(exist_ok=True)
        subprocess.run(["mount", "--bind", str(tiny_disk), str(stored)], check=True)
        try:
            ex = store.create_processing_execution(
                {
                    "processing": processing_id("Calcul ou mise à jour de pyramide raster"),
                    "inputs": {"upload": [upload["_id"]]},
                    "output": {"stored_data": {"name": "full"}},
                    "parameters": PARAMS,
                }
            )
            store.launch_processing_execution(ex["_id"])
            end = ("SUCCESS", "FAILURE", "ABORTED")
            status = wait(
                lambda: (s := store.get_entity("processing_execution", ex["_id"])["status"]) in end and s
            )
            logs = store.processing_execution_logs(ex["_id"])
        finally:
            subprocess.run(["umount", "-l", str(stored)], check=True)
        assert status == "FAILURE", logs
        errors = [line for line in logs if " ERROR " in line]
        assert errors and "No space left on device" in errors[0], logs
        assert f"writing {stored}/" in errors[0], errors
        assert not any("Traceback" in line or "exited with code" in line for line in logs), logs
        assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "UNSTABLE"
    finally:
        store.close()


def wait(predicate, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value
