"""Every action type through the runner, on the local store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Events, configuration_action, offering_action, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.options import RunOptions
from gpf_flow.errors import NotFoundError
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore

SD = "{store_entity.stored_data.infos._id [INFOS(name=sd_base)]}"
CFG = "{store_entity.configuration.infos._id [INFOS(name=cfg_base)]}"
OFFERING = "{store_entity.offering.infos._id [INFOS(layer_name=layer_cfg_base)]}"


@pytest.fixture
def published(tmp_path: Path, store: LocalStore) -> LocalStore:
    """A stored data, its configuration and an offering, made by a workflow."""
    wf = write_workflow(
        tmp_path / "base",
        {
            "workflow": {
                "steps": {
                    "make": {"actions": [work_action("sd_base")]},
                    "cfg": {"parents": ["make"], "actions": [configuration_action("cfg_base", "sd_base")]},
                    "pub": {"parents": ["cfg"], "actions": [offering_action("cfg_base")]},
                }
            }
        },
    )
    assert run(wf, store).status == "success"
    return store


def run_actions(tmp_path: Path, store: LocalStore, *actions: dict[str, Any], **options: Any) -> Any:
    wf = write_workflow(tmp_path / "t", {"workflow": {"steps": {"s": {"actions": list(actions)}}}})
    events = Events()
    result = run(wf, store, RunOptions(force=True, **options), on_event=events)
    return result, events


def one(store: LocalStore, entity_type: str, **infos: str) -> dict[str, Any]:
    items = list(iter_entities(store, entity_type, infos))
    assert len(items) == 1, items
    return store.get_entity(entity_type, items[0]["_id"])


def test_edit_entity_patches_tags_and_comments(tmp_path: Path, published: LocalStore) -> None:
    sd = one(published, "stored_data", name="sd_base")
    published.add_tags("stored_data", sd["_id"], {"old": "1", "keep": "1"})
    published.add_comment("stored_data", sd["_id"], "obsolete")
    action = {
        "type": "edit-entity",
        "entity_type": "stored_data",
        "entity_id": SD,
        "body_parameters": {"description": "edited"},
        "tags": {"new": "2"},
        "comments": ["fresh"],
        "remove_tags": ["old"],
        "remove_comments": ["obsolete"],
    }
    result, _ = run_actions(tmp_path, published, action)
    assert result.status == "success", result.failed
    after = published.get_entity("stored_data", sd["_id"])
    assert after["description"] == "edited"
    assert after["tags"] == {"keep": "1", "new": "2"}
    assert [c["text"] for c in published.list_comments("stored_data", sd["_id"])] == ["fresh"]


def test_edit_configuration_is_a_full_put_merging_used_data(tmp_path: Path, published: LocalStore) -> None:
    cfg = one(published, "configuration", name="cfg_base")
    action = {
        "type": "edit-entity",
        "entity_type": "configuration",
        "entity_id": CFG,
        "body_parameters": {"type_infos": {"title": "new title", "used_data": [{"sub_name": "renamed"}]}},
    }
    result, _ = run_actions(tmp_path, published, action)
    assert result.status == "success", result.failed
    after = published.get_entity("configuration", cfg["_id"])
    assert after["type_infos"]["title"] == "new title"
    assert after["type_infos"]["abstract"] == "test"
    used = after["type_infos"]["used_data"][0]
    assert (
        used["sub_name"] == "renamed"
        and used["stored_data"] == one(published, "stored_data", name="sd_base")["_id"]
    )


def test_copy_configuration_then_used_data_edits(tmp_path: Path, published: LocalStore) -> None:
    copy = {
        "type": "copy-configuration",
        "url_parameters": {"configuration": CFG},
        "body_parameters": {"name": "cfg_copy", "layer_name": "layer_copy"},
        "tags": {"copied": "yes"},
    }
    result, _ = run_actions(tmp_path, published, copy)
    assert result.status == "success", result.failed
    original = one(published, "configuration", name="cfg_base")
    copied = one(published, "configuration", name="cfg_copy")
    assert copied["_id"] != original["_id"] and copied["layer_name"] == "layer_copy"
    assert copied["type_infos"]["used_data"] == original["type_infos"]["used_data"]
    assert copied["tags"] == {"copied": "yes"}

    sd = original["type_infos"]["used_data"][0]["stored_data"]
    edit = {
        "type": "used_data-configuration",
        "entity_id": "{store_entity.configuration.infos._id [INFOS(name=cfg_copy)]}",
        "append_used_data": [{"sub_name": "more", "title": {"fr": "plus"}, "stored_data": sd}],
        "delete_used_data": [{"sub_name": "all"}],
    }
    result, _ = run_actions(tmp_path, published, edit)
    assert result.status == "success", result.failed
    used = published.get_entity("configuration", copied["_id"])["type_infos"]["used_data"]
    assert [u["sub_name"] for u in used] == ["more"]


def test_synchronize_offering_by_id_and_by_configuration(tmp_path: Path, published: LocalStore) -> None:
    by_id = {"type": "synchronize-offering", "entity_id": OFFERING}
    by_cfg = {"type": "synchronize-offering", "filter_infos": {"configuration": CFG}}
    result, events = run_actions(tmp_path, published, by_id, by_cfg)
    assert result.status == "success", result.failed
    assert len(events.of(ev.LinkPublished)) == 2
    assert one(published, "offering")["status"] == "PUBLISHED"


def test_permission_and_access(tmp_path: Path, published: LocalStore) -> None:
    key = published.create_entity("key", {"name": "my key"})
    permission = {
        "type": "permission",
        "body_parameters": {"licence": "test", "offerings": [OFFERING]},
    }
    access = {
        "type": "access",
        "url_parameters": {"key": key["_id"]},
        "body_parameters": {
            "permission": "{store_entity.permission.infos._id [INFOS(licence=test)]}",
            "offerings": [OFFERING],
        },
    }
    result, events = run_actions(tmp_path, published, permission, access)
    assert result.status == "success", result.failed
    (created,) = events.of(ev.EntityCreated, entity_type="permission")
    accesses = published.get_entity("key", key["_id"])["accesses"]
    assert accesses and accesses[0]["permission"] == created.entity_id


def test_delete_entity_asks_for_confirmation_then_cascades(tmp_path: Path, published: LocalStore) -> None:
    action = {
        "type": "delete-entity",
        "entity_type": "stored_data",
        "filter_infos": {"name": "sd_base"},
        "cascade": True,
    }
    refused, _ = run_actions(tmp_path, published, action)
    assert refused.status == "failed"
    assert "asks for confirmation" in refused.failed["s"] and "--yes" in refused.failed["s"]
    assert one(published, "stored_data", name="sd_base")

    result, events = run_actions(tmp_path, published, action, yes=True)
    assert result.status == "success", result.failed
    assert [e.entity_type for e in events.of(ev.EntityDeleted)] == [
        "offering",
        "configuration",
        "stored_data",
    ]
    for entity_type in ("offering", "configuration", "stored_data"):
        assert not list(iter_entities(published, entity_type))


def test_delete_entity_not_found_and_if_multi(tmp_path: Path, store: LocalStore) -> None:
    missing = {
        "type": "delete-entity",
        "entity_type": "configuration",
        "entity_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
    }
    result, _ = run_actions(tmp_path, store, {**missing, "confirm": False})
    assert result.status == "failed" and "not_found_ok" in result.failed["s"]
    result, events = run_actions(tmp_path, store, {**missing, "confirm": False, "not_found_ok": True})
    assert result.status == "success" and events.of(ev.Warning)

    for name in ("m1", "m2"):
        store.create_entity(
            "configuration",
            {
                "type": "DOWNLOAD",
                "name": name,
                "layer_name": name,
                "type_infos": {"title": "t", "abstract": "a", "keywords": [], "used_data": []},
            },
        )
    multi = {
        "type": "delete-entity",
        "entity_type": "configuration",
        "filter_infos": {"name": "m%"},
        "confirm": False,
    }
    result, _ = run_actions(tmp_path, store, {**multi, "if_multi": "error"})
    assert result.status == "failed" and "if_multi is 'error'" in result.failed["s"]
    result, _ = run_actions(tmp_path, store, {**multi, "if_multi": "first"})
    assert [c["name"] for c in iter_entities(store, "configuration")] == ["m2"]
    with pytest.raises(NotFoundError):
        store.get_entity("configuration", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
