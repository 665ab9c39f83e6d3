"""An existing output may be named ``_id`` (the API) or ``id`` (the official joincache workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_test_helpers import make_upload, wait_status
from store_test_procs import P_OK

from gpf_flow.store.local import LocalStore


@pytest.mark.parametrize("key", ["_id", "id"])
def test_existing_output_by_id(store: LocalStore, tmp_path: Path, key: str) -> None:
    up = make_upload(store, tmp_path)
    first = store.create_processing_execution(
        {"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}, "output": {"stored_data": {"name": "SD"}}}
    )
    store.launch_processing_execution(first["_id"])
    wait_status(store, "processing_execution", first["_id"], {"SUCCESS"})
    sd = first["output"]["stored_data"]["_id"]
    again = store.create_processing_execution(
        {"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}, "output": {"stored_data": {key: sd}}}
    )
    assert again["output"]["stored_data"]["_id"] == sd
    store.launch_processing_execution(again["_id"])
    wait_status(store, "processing_execution", again["_id"], {"SUCCESS"})
    assert store.get_entity("stored_data", sd)["status"] == "GENERATED"
