"""Local store: listing filters (infos, %, nested, tags) and pagination boundaries; offerings."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_test_helpers import force_status, make_upload, wait_status
from store_test_procs import P_OK

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.store.base import endpoints_of, iter_entities
from gpf_flow.store.local import LocalStore


def _uploads(store: LocalStore, count: int) -> list[dict]:
    made = []
    for i in range(count):
        up = store.create_entity(
            "upload", {"name": f"DATA_{i:02d}", "type": "RASTER" if i % 2 else "VECTOR", "srs": "EPSG:2154"}
        )
        store.add_tags("upload", up["_id"], {"parity": "odd" if i % 2 else "even", "batch": "b1"})
        made.append(up)
    return made


def test_pagination_boundaries(store: LocalStore) -> None:
    made = _uploads(store, 23)
    first = store.list_entities("upload", page=1, limit=10)
    assert first.total == 23 and len(first.items) == 10 and first.has_next
    assert [u["_id"] for u in first.items] == [u["_id"] for u in made[:10]]  # creation order
    last = store.list_entities("upload", page=3, limit=10)
    assert [u["name"] for u in last.items] == ["DATA_20", "DATA_21", "DATA_22"] and not last.has_next
    beyond = store.list_entities("upload", page=4, limit=10)
    assert beyond.items == [] and beyond.total == 23
    exact = store.list_entities("upload", page=2, limit=23)
    assert exact.items == [] and exact.total == 23
    assert [u["_id"] for u in iter_entities(store, "upload", limit=7)] == [u["_id"] for u in made]
    with pytest.raises(BadRequestError):
        store.list_entities("upload", page=0)
    assert store.list_entities("static").total == 0 and store.list_entities("static").items == []


def test_infos_and_tags_filters(store: LocalStore) -> None:
    _uploads(store, 12)
    assert store.list_entities("upload", {"name": "DATA_03"}).total == 1
    assert store.list_entities("upload", {"name": "DATA_0"}).total == 0  # exact without %
    assert store.list_entities("upload", {"name": "DATA_0%"}).total == 10
    assert store.list_entities("upload", {"name": "%_1%"}).total == 2
    assert store.list_entities("upload", {"type": "RASTER"}).total == 6
    odd = store.list_entities("upload", {"type": "RASTER"}, {"parity": "odd"})
    assert odd.total == 6
    assert store.list_entities("upload", {"type": "VECTOR"}, {"parity": "odd"}).total == 0
    assert store.list_entities("upload", None, {"parity": "even", "batch": "b1"}).total == 6
    assert store.list_entities("upload", None, {"batch": "b2"}).total == 0
    assert store.list_entities("upload", {"status": "OPEN", "fields": "name"}).total == 12
    paged = store.list_entities("upload", {"name": "DATA_%"}, {"parity": "odd"}, page=2, limit=4)
    assert paged.total == 6 and [u["name"] for u in paged.items] == ["DATA_09", "DATA_11"]


def _published(store: LocalStore, tmp_path: Path) -> tuple[dict, dict, dict]:
    up = make_upload(store, tmp_path)
    ex = store.create_processing_execution(
        {"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}, "output": {"stored_data": {"name": "SD"}}}
    )
    store.launch_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], {"SUCCESS"})
    sd_id = ex["output"]["stored_data"]["_id"]
    conf = store.create_entity(
        "configuration",
        {
            "type": "WMTS-TMS",
            "name": "conf",
            "layer_name": "layer_x",
            "type_infos": {"used_data": [{"stored_data": sd_id, "bottom_level": "18", "top_level": "0"}]},
        },
    )
    endpoint = next(
        e for e in endpoints_of(store.get_datastore()) if e["technical_name"] == "gpf-rok4-server-wmts-tms"
    )
    offering = store.create_offering(conf["_id"], {"endpoint": endpoint["_id"], "open": True})
    return store.get_entity("stored_data", sd_id), conf, offering


def test_offering_lifecycle(store: LocalStore, tmp_path: Path) -> None:
    sd, conf, off = _published(store, tmp_path)
    assert off["status"] == "PUBLISHED" and off["layer_name"] == "layer_x" and off["type"] == "WMTS-TMS"
    base = store.public_url
    assert {"type": "WMTS", "url": f"{base}/wmts?SERVICE=WMTS&VERSION=1.0.0&REQUEST=GetCapabilities"} in off[
        "urls"
    ]
    assert {"type": "TMS", "url": f"{base}/tms/1.0.0/layer_x/{{z}}/{{x}}/{{y}}.jpeg"} in off["urls"]
    assert {"type": "PREVIEW", "url": f"{base}/preview/{off['_id']}"} in off["urls"]
    assert store.get_entity("configuration", conf["_id"])["status"] == "PUBLISHED"
    assert off["configuration"]["_id"] == conf["_id"]
    assert store.list_entities("configuration", {"stored_data": sd["_id"]}).total == 1
    assert store.list_entities("offering", {"stored_data": sd["_id"]}).total == 1
    assert store.list_entities("offering", {"configuration": conf["_id"]}, {"ignored": "x"}).total == 1
    assert [o["_id"] for o in store.list_configuration_offerings(conf["_id"])] == [off["_id"]]
    endpoint_id = off["endpoint"]["_id"]
    assert store.list_entities("offering", {"endpoint": endpoint_id}).total == 1
    with pytest.raises(ConflictError):
        store.create_offering(conf["_id"], {"endpoint": endpoint_id})
    wfs = next(e for e in endpoints_of(store.get_datastore()) if e["type"] == "WFS")
    with pytest.raises(BadRequestError, match="WMTS-TMS"):
        store.create_offering(conf["_id"], {"endpoint": wfs["_id"]})
    with pytest.raises(BadRequestError, match="endpoint"):
        store.create_offering(conf["_id"], {"endpoint": "nope"})
    assert store.synchronize_offering(off["_id"])["status"] == "PUBLISHED"
    # a stored data used by a configuration, a configuration with offerings: not deletable
    with pytest.raises(ConflictError):
        store.delete_entity("stored_data", sd["_id"])
    with pytest.raises(ConflictError):
        store.delete_entity("configuration", conf["_id"])
    # first delete unpublishes, second removes
    store.delete_entity("offering", off["_id"])
    assert store.get_entity("offering", off["_id"])["status"] == "UNPUBLISHED"
    assert store.get_entity("configuration", conf["_id"])["status"] == "UNPUBLISHED"
    store.delete_entity("offering", off["_id"])
    with pytest.raises(NotFoundError):
        store.get_entity("offering", off["_id"])
    store.delete_entity("configuration", conf["_id"])
    store.delete_entity("stored_data", sd["_id"])
    assert not store.home.joinpath("stored_data", sd["_id"]).exists()


def test_unpublishable_offering_is_unstable(store: LocalStore, home: Path, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    ex = store.create_processing_execution(
        {"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}, "output": {"stored_data": {"name": "SD"}}}
    )
    store.launch_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], {"SUCCESS"})
    stored_data = ex["output"]["stored_data"]["_id"]
    conf = store.create_entity(
        "configuration",
        {
            "type": "WFS",
            "name": "w",
            "layer_name": "w",
            "type_infos": {"used_data": [{"stored_data": stored_data}]},
        },
    )
    force_status(home, stored_data, "UNSTABLE")  # turned UNSTABLE after it was configured
    wfs = next(e for e in endpoints_of(store.get_datastore()) if e["type"] == "WFS")
    off = store.create_offering(conf["_id"], {"endpoint": wfs["_id"]})
    assert off["status"] == "UNSTABLE"
    store.delete_entity("offering", off["_id"])  # not published: gone at once
    with pytest.raises(NotFoundError):
        store.get_entity("offering", off["_id"])


def test_statics_permissions_keys(store: LocalStore, tmp_path: Path) -> None:
    sld = tmp_path / "style.sld"
    sld.write_text("<StyledLayerDescriptor/>")
    static = store.create_static(sld, "style_zones", "GEOSERVER-STYLE", "a style")
    assert static["name"] == "style_zones" and static["type"] == "GEOSERVER-STYLE"
    assert store.static_file(static["_id"]).read_text() == "<StyledLayerDescriptor/>"
    assert store.list_entities("static", {"name": "style_zones"}).items[0]["_id"] == static["_id"]
    with pytest.raises(BadRequestError):
        store.create_static(sld, "x", "NOPE")
    sd, conf, off = _published(store, tmp_path)
    perms = store.create_permissions({"licence": "l", "offerings": [off["_id"]], "type": "ACCOUNT"})
    assert len(perms) == 1 and perms[0]["offerings"][0]["_id"] == off["_id"]
    with pytest.raises(BadRequestError):
        store.create_permissions({"offerings": ["nope"]})
    key = store.create_entity("key", {"name": "k", "type": "HASH"})
    store.create_access(key["_id"], {"permission": perms[0]["_id"], "offerings": [off["_id"]]})
    assert store.get_entity("key", key["_id"])["accesses"][0]["offerings"] == [off["_id"]]
    assert store.list_entities("key").total == 1
    with pytest.raises(BadRequestError):
        store.create_access(key["_id"], {"permission": "nope", "offerings": []})
    store.delete_entity("static", static["_id"])
    store.delete_entity("key", key["_id"])
