"""The runner on the local store: a chain of steps, tags/comments, state, skip/force, links."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import Events, configuration_action, offering_action, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.options import RunOptions
from gpf_flow.engine.state import step_records
from gpf_flow.errors import UsageError, WorkflowError
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore


def chain_document(who: str = "{params.who}") -> dict:
    produce = work_action(f"sd_{who}", lines=4)
    produce["tags"] = {"level": "action", "kind": "pe"}
    produce["comments"] = ["action comment", "step comment"]
    return {
        "comments": ["file comment"],
        "tags": {"origin": "file", "level": "file"},
        "workflow": {
            "steps": {
                "produce": {"comments": ["step comment"], "tags": {"level": "step"}, "actions": [produce]},
                "configure": {
                    "parents": ["produce"],
                    "actions": [configuration_action(f"cfg_{who}", f"sd_{who}")],
                },
                "publish": {"parents": ["configure"], "actions": [offering_action(f"cfg_{who}")]},
            }
        },
    }


def test_chain_runs_applies_tags_comments_and_publishes(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    wf = write_workflow(tmp_path, chain_document())
    result = run(wf, store, RunOptions(params={"who": "me"}), on_event=events)
    assert result.status == "success", result.failed
    assert [s.status for s in result.steps.values()] == ["done", "done", "done"]

    stored = store.list_entities("stored_data", {"name": "sd_me"}).items
    assert len(stored) == 1
    sd = store.get_entity("stored_data", stored[0]["_id"])
    assert sd["status"] == "GENERATED"
    assert sd["tags"] == {"origin": "file", "level": "action", "kind": "pe"}
    texts = [c["text"] for c in store.list_comments("stored_data", sd["_id"])]
    assert texts == ["file comment", "step comment", "action comment"]
    cfg = store.list_entities("configuration", {"name": "cfg_me"}).items[0]
    assert store.get_entity("configuration", cfg["_id"])["tags"] == {"origin": "file", "level": "file"}

    # log lines streamed once each, in order
    lines = events.of(ev.LogLine, step="produce")
    assert [e.number for e in lines] == list(range(len(lines)))
    assert [e.line.split(" ", 2)[-1] for e in lines if " line " in e.line] == [f"line {i}" for i in range(4)]

    links = events.of(ev.LinkPublished)
    assert len(links) == 1 and links[0].layer_name == "layer_cfg_me"
    assert any(u["type"] == "DOWNLOAD" for u in links[0].urls)
    assert result.links[0]["urls"] == links[0].urls
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert all(e.at > 0 for e in events)
    started = events.of(ev.ActionStarted, step="configure")[0]
    assert started.body["body_parameters"]["type_infos"]["used_data"][0]["stored_data"] == sd["_id"]

    records = step_records(wf, store.home / "runs.sqlite")
    assert {k: r.status for k, r in records.items()} == {
        "produce": "done",
        "configure": "done",
        "publish": "done",
    }


def test_rerun_skips_done_steps_and_force_with_delete_replaces(tmp_path: Path, store: LocalStore) -> None:
    wf = write_workflow(tmp_path, chain_document("x"))
    assert run(wf, store).status == "success"
    again = Events()
    second = run(wf, store, on_event=again)
    assert [s.status for s in second.steps.values()] == ["skipped", "skipped", "skipped"]
    assert not again.of(ev.ActionStarted)
    assert second.links and second.links[0]["layer_name"] == "layer_cfg_x"  # recalled from the first run

    # --force with the default STOP behaviour refuses to duplicate the output
    forced = run(wf, store, RunOptions(force=True, step="produce"))
    assert forced.status == "failed"
    assert "already exists" in forced.failed["produce"]
    # the store refuses to delete a stored data a configuration uses: the error says so
    blocked = run(wf, store, RunOptions(force=True, behavior="DELETE", step="produce"))
    assert "used by configurations" in blocked.failed["produce"]
    # CONTINUE reuses everything: no duplicates
    reused = run(wf, store, RunOptions(force=True, behavior="CONTINUE"))
    assert reused.status == "success", reused.failed
    assert all(e["reused"] for s in reused.steps.values() for e in s.entities)
    assert len(list(iter_entities(store, "stored_data", {"name": "sd_x"}))) == 1
    assert len(list(iter_entities(store, "configuration", {"name": "cfg_x"}))) == 1
    assert len(list(iter_entities(store, "offering"))) == 1


def test_force_with_delete_replaces_the_output(tmp_path: Path, store: LocalStore) -> None:
    wf = write_workflow(tmp_path, {"workflow": {"steps": {"p": {"actions": [work_action("sd_del")]}}}})
    assert run(wf, store).status == "success"
    first = store.list_entities("stored_data", {"name": "sd_del"}).items[0]["_id"]
    events = Events()
    replaced = run(wf, store, RunOptions(force=True, behavior="DELETE"), on_event=events)
    assert replaced.status == "success", replaced.failed
    items = store.list_entities("stored_data", {"name": "sd_del"}).items
    assert len(items) == 1 and items[0]["_id"] != first
    assert [e.entity_id for e in events.of(ev.EntityDeleted)] == [first]


def test_step_alone_warns_about_parents_without_record(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    wf = write_workflow(tmp_path, chain_document("y"))
    result = run(wf, store, RunOptions(step="configure"), on_event=events)
    assert result.status == "failed"  # its stored data does not exist yet
    warning = events.of(ev.Warning)[0]
    assert "'produce'" in warning.message and "no successful record" in warning.message
    error = result.failed["configure"]
    assert "{store_entity.stored_data.infos._id [INFOS(name=sd_y)]}" in error
    assert "GET stored_data?name=sd_y&page=1&limit=10" in error and "matches: 0" in error


def test_template_typos_fail_before_anything_runs(tmp_path: Path, store: LocalStore) -> None:
    doc = chain_document("t")
    doc["workflow"]["steps"]["publish"]["actions"][0]["url_parameters"]["configuration"] = (
        "{store_entity.configuration.infos._id [INFOS(name=x)}"
    )
    wf = write_workflow(tmp_path, doc)
    with pytest.raises(WorkflowError) as info:
        run(wf, store)
    assert "step 'publish', action #1 (offering)" in str(info.value) and "column" in str(info.value)
    assert store.list_entities("processing_execution").total == 0


def test_bad_options_are_usage_errors(tmp_path: Path, store: LocalStore) -> None:
    wf = write_workflow(tmp_path, chain_document("z"))
    with pytest.raises(UsageError, match="unknown behavior"):
        run(wf, store, RunOptions(behavior="MAYBE"))
    with pytest.raises(UsageError):
        run(wf, store, RunOptions(step="nope"))
    with pytest.raises(UsageError, match="--jobs"):
        run(wf, store, RunOptions(jobs=0))


def test_dry_run_resolves_what_exists_and_marks_the_rest_pending(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    wf = write_workflow(tmp_path, chain_document("d"))
    result = run(wf, store, RunOptions(dry_run=True), on_event=events)
    assert result.status == "planned"
    produce = events.of(ev.ActionStarted, step="produce")[0]
    pid = store.list_entities("processing", {"name": "Test work"}).items[0]["_id"]
    assert produce.body["body_parameters"]["processing"] == pid and not produce.pending
    configure = events.of(ev.ActionStarted, step="configure")[0]
    assert configure.pending == ["{store_entity.stored_data.infos._id [INFOS(name=sd_d)]}"]
    used = configure.body["body_parameters"]["type_infos"]["used_data"][0]["stored_data"]
    assert used.startswith("<pending: ")
    assert store.list_entities("stored_data").total == 0  # nothing was created
    assert not (store.home / "runs.sqlite").exists() or not step_records(wf, store.home / "runs.sqlite")


def test_datastore_keys_choose_the_store_view(tmp_path: Path, store: LocalStore) -> None:
    technical = store.get_datastore()["technical_name"]
    doc = {
        "datastore": "no-such-datastore",
        "workflow": {
            "steps": {
                "ok": {"datastore": technical, "actions": [work_action("sd_ds")]},
                "bad": {"actions": [work_action("sd_bad_ds")]},
            }
        },
    }
    result = run(write_workflow(tmp_path, doc), store)
    assert result.steps["ok"].status == "done"
    assert result.steps["bad"].status == "failed"
    assert "datastore 'no-such-datastore' does not exist" in result.failed["bad"]
    # the command line wins over every key
    forced = run(write_workflow(tmp_path, doc), store, RunOptions(datastore=store.datastore_id, step="bad"))
    assert forced.status == "success", forced.failed
