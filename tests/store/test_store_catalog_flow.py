"""Local store with the real catalogs: an ARCHIVE upload checked by the shipped checks, then copied
by "Recopie d'une archive livrée", published on the download endpoint."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from store_test_helpers import wait_status

from gpf_flow.processings.base import processing_id
from gpf_flow.store.base import endpoints_of
from gpf_flow.store.local import LocalStore


def _archive(tmp_path: Path, damaged: bool = False) -> tuple[Path, Path]:
    folder = tmp_path / "ARCH"
    folder.mkdir()
    zpath = folder / "data.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", "hello " * 1000)
    if damaged:
        data = bytearray(zpath.read_bytes())
        data[60] ^= 0xFF
        zpath.write_bytes(bytes(data))
    md5 = tmp_path / "ARCH.md5"
    md5.write_text(f"{hashlib.md5(zpath.read_bytes()).hexdigest()}  ARCH/data.zip\n")
    return zpath, md5


def test_archive_upload_checked_processed_and_published(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "home", workers=2)
    try:
        zpath, md5 = _archive(tmp_path)
        up = store.create_entity(
            "upload", {"name": "EXAMPLE_DATASET_ARCHIVE", "type": "ARCHIVE", "srs": "EPSG:2154"}
        )
        store.upload_push_file(up["_id"], zpath, "ARCH/data.zip")
        store.upload_push_md5(up["_id"], md5)
        store.upload_close(up["_id"])
        done = wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"}, timeout=60)
        checks = store.upload_checks(up["_id"])
        logs = [line for c in checks.failed for line in store.check_execution_logs(c["_id"])]
        assert done["status"] == "CLOSED", logs
        assert {c["check"]["name"] for c in checks.passed} == {
            "Vérification standard",
            "Vérification archive",
        }
        ex = store.create_processing_execution(
            {
                "processing": processing_id("Recopie d'une archive livrée"),
                "inputs": {"upload": [up["_id"]]},
                "output": {"stored_data": {"name": "ARCHIVE_SD", "storage_tags": ["ARCHIVE"]}},
                "parameters": {},
            }
        )
        store.launch_processing_execution(ex["_id"])
        final = wait_status(
            store, "processing_execution", ex["_id"], {"SUCCESS", "FAILURE", "ABORTED"}, timeout=60
        )
        assert final["status"] == "SUCCESS", store.processing_execution_logs(ex["_id"])
        sd_id = ex["output"]["stored_data"]["_id"]
        sd = store.get_entity("stored_data", sd_id)
        assert sd["status"] == "GENERATED" and sd["type"] == "ARCHIVE"
        assert (store.stored_data_dir(sd_id) / "files" / "ARCH" / "data.zip").is_file()
        conf = store.create_entity(
            "configuration",
            {
                "type": "DOWNLOAD",
                "name": "dl",
                "layer_name": "dl_layer",
                "type_infos": {"used_data": [{"stored_data": sd_id}]},
            },
        )
        ep = next(
            e for e in endpoints_of(store.get_datastore()) if e["technical_name"] == "gpf-download-private"
        )
        off = store.create_offering(conf["_id"], {"endpoint": ep["_id"], "open": True})
        assert off["status"] == "PUBLISHED"
        assert {"type": "DOWNLOAD", "url": f"{store.public_url}/download/dl_layer"} in off["urls"]
    finally:
        store.close()


def test_damaged_archive_ends_unstable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "home", workers=2)
    try:
        zpath, md5 = _archive(tmp_path, damaged=True)
        up = store.create_entity("upload", {"name": "BROKEN", "type": "ARCHIVE", "srs": "EPSG:2154"})
        store.upload_push_file(up["_id"], zpath, "ARCH/data.zip")
        store.upload_push_md5(up["_id"], md5)
        store.upload_close(up["_id"])
        assert (
            wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"}, timeout=60)["status"]
            == "UNSTABLE"
        )
        failed = store.upload_checks(up["_id"]).failed
        assert [c["check"]["name"] for c in failed] == ["Vérification archive"]
        assert any("ERROR" in line for line in store.check_execution_logs(failed[0]["_id"]))
    finally:
        store.close()
