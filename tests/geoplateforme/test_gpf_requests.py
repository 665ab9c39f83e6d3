"""What the HTTP store costs: one request per create (no listing beforehand, as the official SDK),
no network I/O when it is built, and a create whose answer was lost found again without a
duplicate (the fault-injection tests cover that path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gpf_helpers import fast_settings

from gpf_flow.errors import StoreError
from gpf_flow.store.geoplateforme import GeoplateformeStore


def _requests(store: GeoplateformeStore) -> int:
    return int(store.client.stats.requests)


def test_each_create_is_one_request(gpf_store: GeoplateformeStore, tmp_path: Path) -> None:
    before = _requests(gpf_store)
    upload = gpf_store.create_entity("upload", {"name": "one-request", "type": "VECTOR", "srs": "EPSG:2154"})
    assert _requests(gpf_store) - before == 1

    before = _requests(gpf_store)
    comment = gpf_store.add_comment("upload", upload["_id"], "a comment")
    assert _requests(gpf_store) - before == 1 and comment["text"] == "a comment"

    style = tmp_path / "style.sld"
    style.write_text("<StyledLayerDescriptor/>")
    before = _requests(gpf_store)
    static = gpf_store.create_static(style, "one-request-style", "GEOSERVER-STYLE")
    assert _requests(gpf_store) - before == 1 and static["name"] == "one-request-style"

    before = _requests(gpf_store)
    with pytest.raises(StoreError):  # refused (no used data): refused in one request too
        gpf_store.create_entity(
            "configuration", {"type": "WFS", "name": "one-request-conf", "layer_name": "one_request_conf"}
        )
    assert _requests(gpf_store) - before == 1


def test_building_the_store_does_no_network_io(gpf_server: Any) -> None:
    # a datastore configured by name, and an API nobody answers on: building costs nothing
    settings = fast_settings(
        gpf_server, root_url="http://127.0.0.1:9/api", datastore="local", nb_attempts="0"
    )
    store = GeoplateformeStore(settings)
    assert store.client.stats.requests == 0
    with pytest.raises(StoreError):
        store.datastore_id  # noqa: B018 - resolving the name is the first network use
    store.close()

    by_name = GeoplateformeStore(fast_settings(gpf_server, datastore="local"))
    assert by_name.client.stats.requests == 0
    assert by_name.datastore_id == gpf_server.datastore
    by_name.close()
