"""End to end: ``gpf-flow upload`` through the CLI against a LocalStore in a temp home."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from gpf_flow.datasets import write_dataset
from gpf_flow.store.base import flatten_tree, iter_entities
from gpf_flow.store.local import LocalStore


def _upload(home: Path, name: str) -> dict:
    store = LocalStore(home)
    try:
        (upload,) = [u for u in iter_entities(store, "upload", {"name": name}) if u["name"] == name]
        return store.get_entity("upload", upload["_id"])
    finally:
        store.close()


def test_delivery_e2e_raster_sample_ends_closed(tmp_path: Path, home: Path, run_cli) -> None:
    folder = write_dataset("raster-sample", tmp_path / "data")
    done = run_cli("upload", "-f", str(folder / "upload_descriptor.jsonc"), "--home", str(home))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLOSED" in done.stdout
    assert "Vérification raster" in done.stdout
    upload = _upload(home, "EXAMPLE_DATASET_RASTER")
    assert upload["status"] == "CLOSED"
    assert upload["tags"] == {"sample": "gpf-flow"}
    # Second run with the default behavior STOP refuses, and says how to go on.
    again = run_cli("upload", "-f", str(folder / "upload_descriptor.jsonc"))
    assert again.returncode == 1
    assert "already exists" in again.stdout and "--behavior CONTINUE" in again.stdout


def test_delivery_e2e_vector_sample_with_static(tmp_path: Path, home: Path, run_cli) -> None:
    folder = write_dataset("vector-sample", tmp_path / "data")
    done = run_cli("upload", "-f", "vector-sample/upload_descriptor.jsonc", cwd=tmp_path / "data")
    assert done.returncode == 0, done.stdout + done.stderr
    store = LocalStore(home)
    try:
        statics = [s for s in iter_entities(store, "static", {"name": "style_zones"})]
        assert len(statics) == 1 and statics[0]["type"] == "GEOSERVER-STYLE"
        upload = next(iter_entities(store, "upload", {"name": "EXAMPLE_DATASET_VECTOR"}))
        tree = flatten_tree(store.upload_tree(upload["_id"]))
    finally:
        store.close()
    assert set(tree) == {f"ZONES/ZONES.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} | {"ZONES.md5"}
    assert (folder / "ZONES.md5").is_file()


def test_delivery_e2e_damaged_raster_ends_unstable_naming_the_block(
    tmp_path: Path, home: Path, run_cli
) -> None:
    from PIL import Image

    folder = write_dataset("raster-sample", tmp_path / "data")
    tile = sorted((folder / "tiles").glob("*.tif"))[1]
    with Image.open(tile) as image:
        offset, count = image.tag_v2[324][2], image.tag_v2[325][2]  # third tile block
    data = tile.read_bytes()
    cut = offset + count // 2
    tile.write_bytes(data[:cut] + data[cut + 5 :])
    descriptor = str(folder / "upload_descriptor.jsonc")

    # The shipped md5 file no longer matches: refused locally, naming the file, nothing sent.
    refused = run_cli("upload", "-f", descriptor)
    assert refused.returncode == 1
    assert f"tiles/{tile.name}: md5 mismatch" in refused.stdout.replace("\n", "")
    assert _upload_count(home) == 0

    (folder / "tiles.md5").unlink()  # regenerated from the damaged data
    done = run_cli("upload", "-f", descriptor)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _upload(home, "EXAMPLE_DATASET_RASTER")["status"] == "UNSTABLE"
    error_lines = [line for line in done.stdout.splitlines() if "ERROR" in line and tile.name in line]
    assert any("block (row 0, col 2)" in line for line in error_lines), done.stdout
    assert "Vérification raster" in done.stdout


def _upload_count(home: Path) -> int:
    store = LocalStore(home)
    try:
        return store.list_entities("upload").total
    finally:
        store.close()


def test_delivery_e2e_continue_skips_files_already_sent(tmp_path: Path, home: Path, run_cli) -> None:
    folder = write_dataset("raster-sample", tmp_path / "data")
    tiles = sorted((folder / "tiles").glob("*.tif"))
    store = LocalStore(home)
    try:  # an interrupted delivery: the upload exists, OPEN, with two files out of four
        upload = store.create_entity(
            "upload",
            {"name": "EXAMPLE_DATASET_RASTER", "description": "d", "srs": "EPSG:2154", "type": "RASTER"},
        )
        for tile in tiles[:2]:
            store.upload_push_file(upload["_id"], tile, f"tiles/{tile.name}")
    finally:
        store.close()
    done = run_cli("upload", "-f", str(folder / "upload_descriptor.jsonc"), "--behavior", "CONTINUE")
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if "already sent, skipped" in line]
    sent = [line for line in done.stdout.splitlines() if line.strip().endswith(") sent")]
    assert sorted(tiles[i].name in " ".join(skipped) for i in range(2)) == [True, True]
    assert len(skipped) == 2 and len(sent) == 3  # two tiles + the md5 file
    assert _upload(home, "EXAMPLE_DATASET_RASTER")["_id"] == upload["_id"]


def test_delivery_e2e_kill_9_mid_delivery_then_resume(tmp_path: Path, home: Path, run_cli, start_cli) -> None:
    data = tmp_path / "big" / "FILES"
    data.mkdir(parents=True)
    block = bytes(range(256)) * 1024  # 256 KiB
    for index in range(120):
        (data / f"part-{index:03d}.bin").write_bytes(block[index:] + block[:index])
    descriptor = tmp_path / "big" / "upload_descriptor.json"
    descriptor.write_text(
        '{"datasets": [{"data_dirs": ["FILES"], "upload_infos": {"name": "BIG", "description": "big", '
        '"srs": "EPSG:2154", "type": "ARCHIVE"}, "comments": ["c"], "tags": {"t": "v"}}]}'
    )
    process = start_cli("upload", "-f", str(descriptor))
    assert process.stdout is not None
    sent = 0
    for line in process.stdout:
        if line.strip().endswith(") sent"):
            sent += 1
            if sent == 3:
                os.kill(process.pid, signal.SIGKILL)
                break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    store = LocalStore(home)  # still readable, the upload still OPEN with part of the files
    try:
        upload = store.get_entity("upload", _upload(home, "BIG")["_id"])
        present = flatten_tree(store.upload_tree(upload["_id"]))
    finally:
        store.close()
    assert upload["status"] == "OPEN"
    assert 3 <= len(present) < 121
    assert all(size == len(block) for size in present.values())  # no half-written file is visible

    done = run_cli("upload", "-f", str(descriptor), "--behavior", "CONTINUE")
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if "already sent, skipped" in line]
    assert len(skipped) == len(present)
    assert _upload(home, "BIG")["status"] == "CLOSED"


def test_delivery_e2e_dataset_commands(tmp_path: Path, run_cli) -> None:
    import json

    listed = run_cli("dataset", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [d["name"] for d in json.loads(listed.stdout)]
    assert names == ["raster-sample", "vector-sample", "archive-sample"]
    table = run_cli("dataset", "list")
    assert "EXAMPLE_DATASET_VECTOR" in table.stdout
    got = run_cli("dataset", "get", "vector-sample", "-o", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out" / "vector-sample" / "ZONES" / "ZONES.shp").is_file()
    again = run_cli("dataset", "get", "vector-sample", "-o", str(tmp_path / "out"))
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    forced = run_cli("dataset", "get", "vector-sample", "-o", str(tmp_path / "out"), "--force")
    assert forced.returncode == 0
    unknown = run_cli("dataset", "get", "vectr-sample")
    assert unknown.returncode == 2 and "vector-sample" in unknown.stderr


def test_delivery_e2e_upload_output_json_lines(tmp_path: Path, home: Path, run_cli) -> None:
    import json

    folder = write_dataset("archive-sample", tmp_path / "data")
    done = run_cli("upload", "-f", str(folder / "upload_descriptor.jsonc"), "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    # the run's conventions: every line an object with "event" and "at", a summary last
    assert all(isinstance(line["event"], str) and isinstance(line["at"], float) for line in lines)
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "dataset_started" and kinds[-1] == "summary"
    expected = {"file_started", "file_finished", "upload_closed", "checks_changed", "dataset_finished"}
    assert expected <= set(kinds)
    summary = lines[-1]
    assert summary["ok"] is True
    (dataset,) = summary["datasets"]
    assert dataset["status"] == "CLOSED" and dataset["ok"] is True and dataset["upload_id"]


def test_delivery_e2e_upload_rejects_an_unknown_output(tmp_path: Path, home: Path, run_cli) -> None:
    folder = write_dataset("archive-sample", tmp_path / "data")
    done = run_cli("upload", "-f", str(folder / "upload_descriptor.jsonc"), "--output", "xml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--output json" in done.stdout + done.stderr
    assert _upload_count(home) == 0
