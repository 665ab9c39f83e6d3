"""The narrow seam on the local store: the ops functions over ``related``/``act``, the errors of
the generic verbs, and the typed entity views."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpf_flow.errors import BadRequestError
from gpf_flow.store import ops
from gpf_flow.store.base import (
    Action,
    EntityType,
    ExecutionStatus,
    OfferingStatus,
    Relation,
    Store,
    UploadStatus,
    flatten_tree,
)
from gpf_flow.store.local import LocalStore
from gpf_flow.store.views import ExecutionView, OfferingView, UploadView


def _upload(store: Store) -> str:
    body = {"name": "SEAM", "type": "VECTOR", "srs": "EPSG:2154", "description": "d"}
    return str(store.create_entity(EntityType.UPLOAD, body)["_id"])


def test_protocol_is_small() -> None:
    methods = [n for n, v in vars(Store).items() if callable(v) and not n.startswith("_")]
    assert len(methods) == 13, methods  # see gpf_flow.store.base: grow a Relation, not a method


def test_tags_comments_and_files_through_related(store: LocalStore, tmp_path: Path) -> None:
    upload_id = _upload(store)
    ops.add_tags(store, EntityType.UPLOAD, upload_id, {"a": "1", "b": "2"})
    ops.remove_tags(store, EntityType.UPLOAD, upload_id, ["a"])
    assert store.get_entity(EntityType.UPLOAD, upload_id)["tags"] == {"b": "2"}

    first = ops.add_comment(store, EntityType.UPLOAD, upload_id, "hello")
    ops.add_comment(store, EntityType.UPLOAD, upload_id, "world")
    ops.remove_comment(store, EntityType.UPLOAD, upload_id, first["_id"])
    assert [c["text"] for c in ops.list_comments(store, EntityType.UPLOAD, upload_id)] == ["world"]

    data = tmp_path / "a.csv"
    data.write_text("x,y\n1,2\n")
    md5 = tmp_path / "sums.md5"
    md5.write_text("0" * 32 + "  data/a.csv\n")
    ops.upload_push_file(store, upload_id, data, "data/a.csv")
    ops.upload_push_md5(store, upload_id, md5)
    assert flatten_tree(ops.upload_tree(store, upload_id)) == {
        "data/a.csv": data.stat().st_size,
        "sums.md5": md5.stat().st_size,
    }
    ops.upload_delete_file(store, upload_id, "sums.md5")
    assert list(flatten_tree(ops.upload_tree(store, upload_id))) == ["data/a.csv"]
    assert ops.upload_checks(store, upload_id).finished


def test_generic_verbs_name_what_exists(store: LocalStore, tmp_path: Path) -> None:
    upload_id = _upload(store)
    with pytest.raises(BadRequestError, match="offerings"):
        store.related(EntityType.UPLOAD, upload_id, Relation.OFFERINGS)
    with pytest.raises(BadRequestError, match="FilePush"):
        store.related(EntityType.UPLOAD, upload_id, Relation.FILES, add="a.csv")
    with pytest.raises(BadRequestError, match="has no action"):
        store.act(EntityType.UPLOAD, upload_id, Action.SYNCHRONIZE)
    with pytest.raises(BadRequestError, match="file"):
        store.create_entity(EntityType.STATIC, {"name": "s", "type": "GEOSERVER-STYLE"})
    style = tmp_path / "s.sld"
    style.write_text("<StyledLayerDescriptor/>")
    static = ops.create_static(store, style, "s", "GEOSERVER-STYLE", "a style")
    assert (static["name"], static["type"], static.get("description")) == ("s", "GEOSERVER-STYLE", "a style")


def test_views_read_the_fields_the_engine_decides_on() -> None:
    execution = ExecutionView.of(
        {
            "_id": "e1",
            "status": "SUCCESS",
            "processing": {"name": "Intégration"},
            "output": {"stored_data": {"_id": "sd1", "name": "out"}},
        }
    )
    assert execution.status is ExecutionStatus.SUCCESS and execution.terminal and execution.succeeded
    assert (execution.output_type, execution.processing_name) == (EntityType.STORED_DATA, "Intégration")
    assert execution.output == {"_id": "sd1", "name": "out"}
    running = ExecutionView.of({"_id": "e2", "status": "PROGRESS", "output": {}})
    assert not running.terminal and running.output is None and running.output_type is None
    odd = UploadView.of({"_id": "u1", "name": "n", "status": "SOMETHING_NEW"})
    assert odd.status is None and odd.status_text == "SOMETHING_NEW"
    assert UploadView.of({"_id": "u2", "status": "OPEN"}).status is UploadStatus.OPEN
    offering = OfferingView.of(
        {"_id": "o1", "status": "PUBLISHED", "layer_name": "l", "urls": [{"type": "WMS", "url": "http://x"}]}
    )
    assert offering.status is OfferingStatus.PUBLISHED and offering.urls == (
        {"type": "WMS", "url": "http://x"},
    )
