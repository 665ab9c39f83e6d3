"""The rest of the Store interface over HTTP on a real server: edits, tags, comments, reopen,
logs read from any offset (counting the requests), abort, configurations, offerings,
synchronisation, unpublish/delete, permissions, keys and accesses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpf_helpers import fast_settings

from gpf_flow.errors import NotFoundError
from gpf_flow.store.base import EXECUTION_TERMINAL
from gpf_flow.store.geoplateforme import GeoplateformeStore
from gpf_flow.store.geoplateforme.paging import log_window

VECTOR_PROCESSING = "Intégration de données vecteur livrées en base"


def wait_for(predicate: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def vector_db(gpf_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A delivered vector upload and its VECTOR-DB stored data, made through the HTTP store."""
    from gpf_flow.datasets import write_dataset

    folder = Path(write_dataset("vector-sample", tmp_path_factory.mktemp("ops")))
    store = GeoplateformeStore(fast_settings(gpf_server))
    name = f"OPS_{int(time.time() * 1000)}"
    upload = store.create_entity("upload", {"name": name, "type": "VECTOR", "srs": "EPSG:2154"})
    for path in sorted((folder / "ZONES").iterdir()):
        store.upload_push_file(upload["_id"], path, f"ZONES/{path.name}")
    store.upload_push_md5(upload["_id"], folder / "ZONES.md5")
    store.upload_close(upload["_id"])
    assert wait_for(lambda: store.upload_checks(upload["_id"]).finished)
    processing = store.list_entities("processing", {"name": VECTOR_PROCESSING}).items[0]
    execution = store.create_processing_execution(
        {
            "processing": processing["_id"],
            "inputs": {"upload": [upload["_id"]]},
            "output": {"stored_data": {"name": f"{name}_DB"}},
            "parameters": {},
        }
    )
    store.launch_processing_execution(execution["_id"])
    final = wait_for(
        lambda: (
            (e := store.get_entity("processing_execution", execution["_id"]))["status"] in EXECUTION_TERMINAL
            and e
        )
    )
    assert final["status"] == "SUCCESS"
    yield {
        "store": store,
        "upload": upload,
        "execution": final,
        "stored_data": final["output"]["stored_data"]["_id"],
        "processing": processing,
        "name": name,
    }
    store.close()


def test_gpf_edits_tags_comments_reopen(vector_db: dict[str, Any]) -> None:
    store: GeoplateformeStore = vector_db["store"]
    upload_id = vector_db["upload"]["_id"]
    edited = store.edit_entity("upload", upload_id, {"description": "edited through HTTP"})
    assert edited["description"] == "edited through HTTP"
    store.add_tags("upload", upload_id, {"a": "1", "b": "2"})
    store.remove_tags("upload", upload_id, ["a"])
    assert store.get_entity("upload", upload_id)["tags"] == {"b": "2"}
    assert store.list_entities("upload", {"name": vector_db["name"]}, {"b": "2"}).total == 1
    assert store.list_entities("upload", {"name": vector_db["name"]}, {"b": "3"}).total == 0
    comment = store.add_comment("upload", upload_id, "first")
    assert comment["text"] == "first"
    store.remove_comment("upload", upload_id, comment["_id"])
    assert store.list_comments("upload", upload_id) == []
    assert store.get_entity("upload", upload_id)["status"] == "CLOSED"
    store.upload_open(upload_id)
    assert store.get_entity("upload", upload_id)["status"] == "OPEN"
    store.upload_delete_file(upload_id, "ZONES.md5")
    store.upload_delete_file(upload_id, "ZONES.md5")  # already gone: still fine
    store.upload_close(upload_id)
    assert wait_for(lambda: store.upload_checks(upload_id).finished)


def test_gpf_pagination_follows_content_range(vector_db: dict[str, Any]) -> None:
    store: GeoplateformeStore = vector_db["store"]
    every = [p["_id"] for p in store._all("processing")]
    assert len(every) >= 5
    page = store.list_entities("processing", page=2, limit=2)
    assert page.total == len(every) and page.items and [p["_id"] for p in page.items] == every[2:4]
    assert store.list_entities("processing", {"name": "Recopie%"}).total == 1  # % wildcard


def test_gpf_logs_from_any_offset_fetch_only_new_pages(vector_db: dict[str, Any]) -> None:
    store: GeoplateformeStore = vector_db["store"]
    execution_id = vector_db["execution"]["_id"]
    full = store.processing_execution_logs(execution_id)
    assert len(full) >= 3
    for page_max in (2000, 4, 3):
        store.log_page_max = page_max
        for offset in range(len(full) + 2):
            before = store.client.stats.requests
            bytes_before = store.client.stats.bytes_received
            assert store.processing_execution_logs(execution_id, offset) == full[offset:]
            requests = store.client.stats.requests - before
            if offset >= len(full):
                assert requests == 1  # nothing new: one request, and no old line in it
                if log_window(offset, max_limit=page_max, min_limit=min(20, page_max)).skip == 0:
                    assert store.client.stats.bytes_received - bytes_before == len(b"[]")
            else:
                # never more pages than those holding the new lines (+1 when the first is partial)
                assert requests <= -(-(len(full) - offset) // min(page_max, max(offset, 1))) + 1
    store.log_page_max = 2000
    checks = store.upload_checks(vector_db["upload"]["_id"])
    check_id = (checks.passed or checks.failed)[0]["_id"]
    check_log = store.check_execution_logs(check_id)
    assert check_log and store.check_execution_logs(check_id, 1) == check_log[1:]


def test_gpf_abort(vector_db: dict[str, Any]) -> None:
    store: GeoplateformeStore = vector_db["store"]
    execution = store.create_processing_execution(
        {
            "processing": vector_db["processing"]["_id"],
            "inputs": {"upload": [vector_db["upload"]["_id"]]},
            "output": {"stored_data": {"name": f"{vector_db['name']}_ABORTED"}},
            "parameters": {},
        }
    )
    store.launch_processing_execution(execution["_id"])
    store.abort_processing_execution(execution["_id"])
    final = wait_for(
        lambda: store.get_entity("processing_execution", execution["_id"])["status"] in EXECUTION_TERMINAL
    )
    assert final
    status = store.get_entity("processing_execution", execution["_id"])["status"]
    assert status in ("ABORTED", "SUCCESS")  # a fast worker may finish first
    store.abort_processing_execution(execution["_id"])  # already ended: nothing to do, no error


def test_gpf_configuration_offering_permission_access(vector_db: dict[str, Any]) -> None:
    store: GeoplateformeStore = vector_db["store"]
    stored = store.get_entity("stored_data", vector_db["stored_data"])
    table = stored["type_infos"]["relations"][0]["name"]
    layer = f"{vector_db['name'].lower()}_wfs"
    configuration = store.create_entity(
        "configuration",
        {
            "type": "WFS",
            "name": layer,
            "layer_name": layer,
            "type_infos": {
                "title": "WFS",
                "abstract": "WFS",
                "used_data": [
                    {
                        "stored_data": stored["_id"],
                        "relations": [
                            {"native_name": table, "public_name": table, "title": "t", "abstract": "a"}
                        ],
                    }
                ],
            },
        },
    )
    endpoint = store.list_entities("endpoint", {"technical_name": "gpf-geoserver-wfs"}).items[0]
    offering = store.create_offering(configuration["_id"], {"endpoint": endpoint["_id"], "open": True})
    assert "urls" in offering
    assert [o["_id"] for o in store.list_configuration_offerings(configuration["_id"])] == [offering["_id"]]
    assert wait_for(
        lambda: store.get_entity("offering", offering["_id"])["status"] in ("PUBLISHED", "UNSTABLE")
    )
    synced = store.synchronize_offering(offering["_id"])
    assert synced["_id"] == offering["_id"]
    assert wait_for(lambda: store.get_entity("offering", offering["_id"])["status"] == "PUBLISHED")

    permissions = store.create_permissions(
        {"offerings": [offering["_id"]], "licence": "test", "only_oauth": False}
    )
    assert permissions and permissions[0]["_id"]
    key = store.create_entity("key", {"name": f"{layer}_key", "type": "HASH", "type_infos": {"hash": "x"}})
    store.create_access(key["_id"], {"permission": permissions[0]["_id"], "offerings": [offering["_id"]]})
    accesses = store.get_entity("key", key["_id"]).get("accesses")
    assert accesses is None or len(accesses) == 1

    store.delete_entity("offering", offering["_id"])  # PUBLISHED: only unpublished
    assert wait_for(lambda: store.get_entity("offering", offering["_id"])["status"] == "UNPUBLISHED")
    store.delete_entity("offering", offering["_id"])
    with pytest.raises(NotFoundError):
        store.get_entity("offering", offering["_id"])
    store.delete_entity("configuration", configuration["_id"])
    with pytest.raises(NotFoundError):
        store.get_entity("configuration", configuration["_id"])
