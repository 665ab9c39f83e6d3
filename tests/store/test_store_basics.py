"""Local store: home creation, user/datastore/endpoints, catalog, entity CRUD, tags and comments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from store_test_procs import P_OK

from gpf_flow.errors import BadRequestError, ConflictError, GpfFlowError, NotFoundError
from gpf_flow.processings.base import PROCESSINGS
from gpf_flow.store.base import Store, endpoints_of
from gpf_flow.store.local import LocalStore

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_home_created_with_settings_user_and_datastore(store: LocalStore, home: Path) -> None:
    assert isinstance(store, Store)
    assert (home / "config.json").is_file() and (home / "store.sqlite").is_file()
    settings = json.loads((home / "config.json").read_text())
    account = settings["accounts"][0]
    assert account["login"] and len(account["password"]) >= 16
    assert store.check_account(account["login"], account["password"])
    assert not store.check_account(account["login"], "wrong")
    me = store.user_me()
    assert me["last_name"] == settings["user"]["last_name"] and UUID.match(me["_id"])
    community = me["communities_member"][0]["community"]
    assert community["datastore"] == store.datastore_id
    ds = store.get_datastore()
    assert ds["_id"] == store.datastore_id
    names = {e["technical_name"]: e["type"] for e in endpoints_of(ds)}
    assert names == {
        "gpf-rok4-server-wms-r": "WMS-RASTER",
        "gpf-geoserver-wms-v": "WMS-VECTOR",
        "gpf-rok4-server-wmts-tms": "WMTS-TMS",
        "gpf-geoserver-wfs": "WFS",
        "gpf-download-private": "DOWNLOAD",
    }


def test_reopen_keeps_ids_and_password(home: Path) -> None:
    first = LocalStore(home)
    ds, me, password = first.datastore_id, first.user_me()["_id"], first.config["accounts"][0]["password"]
    ep_ids = [e["_id"] for e in endpoints_of(first.get_datastore())]
    first.close()
    second = LocalStore(home, public_url="http://127.0.0.1:9999/")
    try:
        assert second.datastore_id == ds and second.user_me()["_id"] == me
        assert second.config["accounts"][0]["password"] == password
        assert [e["_id"] for e in endpoints_of(second.get_datastore())] == ep_ids
        assert second.public_url == "http://127.0.0.1:9999"
    finally:
        second.close()


def test_processings_catalog_and_endpoint_filters(store: LocalStore) -> None:
    page = store.list_entities("processing", {"name": "Calcul de pyramide raster"})
    assert page.total == 1
    proc = page.items[0]
    assert proc["_id"] == next(p.id for p in PROCESSINGS if p.name == "Calcul de pyramide raster")
    assert store.get_entity("processing", P_OK.id)["name"] == "Test copy"
    eps = store.list_entities("endpoint", {"technical_name": "GPF-GEOSERVER-WFS"})
    assert eps.total == 1 and eps.items[0]["type"] == "WFS"
    assert (
        store.list_entities("endpoint", {"type": "wmts-tms"}).items[0]["technical_name"]
        == "gpf-rok4-server-wmts-tms"
    )
    assert store.list_entities("datastore", {"name": "local"}).total == 1
    with pytest.raises(BadRequestError):
        store.list_entities("nope")


def test_for_datastore(store: LocalStore) -> None:
    view = store.for_datastore(store.datastore_id)
    assert view.datastore_id == store.datastore_id
    assert store.for_datastore("local").datastore_id == store.datastore_id
    with pytest.raises(NotFoundError):
        store.for_datastore("11111111-2222-3333-4444-555555555555")
    view.close()  # a view does not close the store
    assert store.list_entities("processing").total >= len(PROCESSINGS)


def test_upload_crud_tags_comments(store: LocalStore) -> None:
    up = store.create_entity(
        "upload", {"name": "A", "type": "VECTOR", "srs": "EPSG:2154", "description": "x"}
    )
    assert up["status"] == "OPEN" and UUID.match(up["_id"]) and up["tags"] == {} and up["size"] == 0
    store.add_tags("upload", up["_id"], {"k": "v", "n": "1"})
    store.remove_tags("upload", up["_id"], ["n"])
    assert store.get_entity("upload", up["_id"])["tags"] == {"k": "v"}
    c1 = store.add_comment("upload", up["_id"], "hello")
    store.add_comment("upload", up["_id"], "hello")  # duplicates accepted
    assert [c["text"] for c in store.list_comments("upload", up["_id"])] == ["hello", "hello"]
    store.remove_comment("upload", up["_id"], c1["_id"])
    assert len(store.list_comments("upload", up["_id"])) == 1
    with pytest.raises(NotFoundError):
        store.remove_comment("upload", up["_id"], c1["_id"])
    edited = store.edit_entity("upload", up["_id"], {"description": "new", "status": "CLOSED", "_id": "x"})
    assert edited["description"] == "new" and edited["status"] == "OPEN" and edited["_id"] == up["_id"]
    with pytest.raises(BadRequestError):
        store.add_tags("offering", up["_id"], {"a": "b"})
    store.delete_entity("upload", up["_id"])
    with pytest.raises(NotFoundError):
        store.get_entity("upload", up["_id"])
    with pytest.raises(BadRequestError):
        store.create_entity("upload", {"type": "VECTOR"})


def test_configuration_validation_and_put(store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(BadRequestError, match=r"type_infos.used_data\[0\].stored_data"):
        store.create_entity(
            "configuration",
            {
                "type": "WFS",
                "name": "c",
                "layer_name": "c",
                "type_infos": {"used_data": [{"stored_data": "nope"}]},
            },
        )
    with pytest.raises(BadRequestError, match="'type'"):
        store.create_entity("configuration", {"type": "WXS", "name": "c", "layer_name": "c"})
    conf = store.create_entity(
        "configuration",
        {
            "type": "WFS",
            "name": "c",
            "layer_name": "c",
            "_id": "ignored",
            "status": "PUBLISHED",
            "tags": {"a": "b"},
        },
    )
    assert conf["status"] == "UNPUBLISHED" and conf["tags"] == {} and conf["_id"] != "ignored"
    full = dict(conf, name="c2", status="PUBLISHED", tags={"x": "y"}, last_event={"title": "t"})
    full.pop("layer_name")
    with pytest.raises(BadRequestError, match="layer_name"):
        store.edit_entity("configuration", conf["_id"], full, replace=True)
    full["layer_name"] = "c"
    put = store.edit_entity("configuration", conf["_id"], full, replace=True)
    assert put["name"] == "c2" and put["status"] == "UNPUBLISHED" and put["tags"] == {}
    with pytest.raises(ConflictError):
        store.create_entity("configuration", {"type": "WFS", "name": "other", "layer_name": "c"})


def test_unusable_home_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(GpfFlowError, match="cannot open the local store") as info:
        LocalStore(blocker / "home")
    assert "--home" in str(info.value)
