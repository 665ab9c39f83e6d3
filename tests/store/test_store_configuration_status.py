"""Configurations and offerings over stored data that failed: refused, or UNSTABLE with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_test_helpers import force_status, make_upload, wait_status
from store_test_procs import P_FAIL, P_OK

from gpf_flow.errors import BadRequestError
from gpf_flow.store.base import endpoints_of
from gpf_flow.store.local import LocalStore


def _conf(store: LocalStore, name: str, stored_data_id: str) -> dict:
    return store.create_entity(
        "configuration",
        {
            "type": "WFS",
            "name": name,
            "layer_name": name,
            "type_infos": {"used_data": [{"stored_data": stored_data_id}]},
        },
    )


def _output(store: LocalStore, tmp_path: Path, processing_id: str, launch: bool) -> str:
    up = make_upload(store, tmp_path)
    ex = store.create_processing_execution(
        {
            "processing": processing_id,
            "inputs": {"upload": [up["_id"]]},
            "output": {"stored_data": {"name": "SD"}},
        }
    )
    sd = ex["output"]["stored_data"]["_id"]
    if launch:
        store.launch_processing_execution(ex["_id"])
        wait_status(store, "processing_execution", ex["_id"], {"SUCCESS", "FAILURE"})
    return str(sd)


def test_a_failed_stored_data_cannot_be_configured(store: LocalStore, tmp_path: Path) -> None:
    failed = _output(store, tmp_path, P_FAIL.id, launch=True)
    assert store.get_entity("stored_data", failed)["status"] == "UNSTABLE"
    with pytest.raises(BadRequestError, match="is UNSTABLE, not GENERATED"):
        _conf(store, "broken", failed)


def test_a_stored_data_not_yet_generated_cannot_be_configured(store: LocalStore, tmp_path: Path) -> None:
    pending = _output(store, tmp_path, P_OK.id, launch=False)
    with pytest.raises(BadRequestError, match="is CREATED, not GENERATED"):
        _conf(store, "pending", pending)


def test_an_unstable_offering_says_why(store: LocalStore, home: Path, tmp_path: Path) -> None:
    generated = _output(store, tmp_path, P_OK.id, launch=True)
    conf = _conf(store, "later-broken", generated)
    # the configured stored data turns UNSTABLE afterwards (another process, a recovery…)
    force_status(home, generated, "UNSTABLE")
    wfs = next(e for e in endpoints_of(store.get_datastore()) if e["type"] == "WFS")
    offering = store.create_offering(conf["_id"], {"endpoint": wfs["_id"]})
    assert offering["status"] == "UNSTABLE"
    last = store.events(offering["_id"])[-1]["title"]
    assert generated in last and "UNSTABLE, not GENERATED" in last
