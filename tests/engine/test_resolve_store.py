"""``store_entity``, ``user`` and client-side endpoint/datastore lookups against the local store."""

from __future__ import annotations

import pytest

from gpf_flow.errors import WorkflowError
from gpf_flow.resolve import ResolveContext, resolve_value
from gpf_flow.store.local import LocalStore


@pytest.fixture
def seeded(store: LocalStore) -> LocalStore:
    last = store.user_me()["last_name"]
    for name, tags in (
        ("a", {"v": "1", "team": "x"}),
        (f"{last}__cfg", {"v": "2", "team": "x"}),
        ("c", {"v": "1"}),
    ):
        created = store.create_entity(
            "configuration",
            {
                "type": "DOWNLOAD",
                "name": name,
                "layer_name": f"layer_{name}",
                "type_infos": {"title": name, "abstract": "a", "keywords": ["k"], "used_data": []},
            },
        )
        store.add_tags("configuration", created["_id"], tags)
    return store


def test_infos_tags_one_all_and_nested_templates(seeded: LocalStore) -> None:
    c = ResolveContext(store=seeded, params={"team": "x"})
    last = seeded.user_me()["last_name"]
    cfg = seeded.list_entities("configuration", {"name": f"{last}__cfg"}).items[0]
    assert (
        resolve_value("{store_entity.configuration.infos._id [INFOS(name={user.last_name}__cfg)]}", c)
        == cfg["_id"]
    )
    assert resolve_value("{store_entity.configuration.infos.type_infos.keywords [INFOS(name=a)]}", c) == ["k"]
    assert (
        resolve_value("{store_entity.configuration.infos.type_infos.keywords[0] [INFOS(name=a)]}", c) == "k"
    )
    assert (
        resolve_value("x-{store_entity.configuration.infos.type_infos.keywords [INFOS(name=a)]}", c)
        == 'x-["k"]'
    )
    names = resolve_value("{store_entity.configuration.ALL.infos.name [TAGS(team={params.team})]}", c)
    assert names == ["a", f"{last}__cfg"]
    assert resolve_value("{store_entity.configuration.ALL.tags.v [TAGS(team=x)]}", c) == ["1", "2"]
    assert resolve_value("{store_entity.configuration.tags.v [INFOS(name=c)]}", c) == "1"
    one = resolve_value("{store_entity.configuration.ONE [INFOS(name=a)]}", c)
    assert isinstance(one, dict) and one["layer_name"] == "layer_a"
    many = resolve_value(["_store_entity_", "configuration.ALL [TAGS(v=1)]"], c)
    assert [m["name"] for m in many] == ["a", "c"]
    assert "GET configuration?tags%5Bteam%5D=x&page=1&limit=10" in c.queries


def test_endpoints_and_datastores_are_filtered_client_side(seeded: LocalStore) -> None:
    c = ResolveContext(store=seeded)
    endpoints = {e["endpoint"]["technical_name"]: e["endpoint"] for e in seeded.get_datastore()["endpoints"]}
    wms = endpoints["gpf-rok4-server-wms-r"]
    assert (
        resolve_value("{store_entity.endpoint.infos._id [INFOS(technical_name=GPF-ROK4-server-wms-r)]}", c)
        == wms["_id"]
    )
    assert resolve_value("{store_entity.endpoint.infos._id [INFOS(type=WMS-RASTER)]}", c) == wms["_id"]
    community = seeded.user_me()["communities_member"][0]["community"]
    template = f"{{store_entity.datastore.infos._id [INFOS(name={community['technical_name']})]}}"
    assert resolve_value(template, c) == seeded.datastore_id
    assert resolve_value("{user.communities_member[0].community.datastore}", c) == seeded.datastore_id


def test_errors_show_template_query_and_matches(seeded: LocalStore) -> None:
    c = ResolveContext(store=seeded)
    with pytest.raises(WorkflowError) as info:
        resolve_value({"x": ["{store_entity.stored_data.infos._id [INFOS(name=nope, type=VECTOR-DB)]}"]}, c)
    text = str(info.value)
    assert "{store_entity.stored_data.infos._id [INFOS(name=nope, type=VECTOR-DB)]}" in text
    assert "query: GET stored_data?name=nope&type=VECTOR-DB&page=1&limit=10" in text
    assert "matches: 0" in text
    with pytest.raises(WorkflowError) as info:
        resolve_value("{store_entity.configuration.ALL.infos.missing.field [TAGS(team=x)]}", c)
    assert "has no infos.missing" in str(info.value) and "matches: 2" in str(info.value)
    with pytest.raises(WorkflowError, match="has no tags.absent"):
        resolve_value("{store_entity.configuration.tags.absent [INFOS(name=a)]}", c)
    with pytest.raises(WorkflowError, match="the user .* has no field 'nickname'"):
        resolve_value("{user.nickname}", c)


def test_dry_run_marks_missing_entities_pending(seeded: LocalStore) -> None:
    c = ResolveContext(store=seeded, dry_run=True)
    value = resolve_value({"sd": "{store_entity.stored_data.infos._id [INFOS(name=later)]}"}, c)
    assert value == {"sd": "<pending: {store_entity.stored_data.infos._id [INFOS(name=later)]}>"}
    assert c.pending == ["{store_entity.stored_data.infos._id [INFOS(name=later)]}"]


def test_one_matching_several_entities_lists_them(seeded: LocalStore) -> None:
    """The official SDK silently takes the first; ONE, written or implied (no selector), must match
    exactly one entity."""
    c = ResolveContext(store=seeded)
    for template in (
        "{store_entity.configuration.ONE.infos._id [TAGS(team=x)]}",
        "{store_entity.configuration.infos._id [TAGS(team=x)]}",
    ):
        with pytest.raises(WorkflowError) as info:
            resolve_value(template, c)
        text = str(info.value)
        assert "one configuration expected, 2 match" in text
    last = seeded.user_me()["last_name"]
    assert "'a'" in text and f"'{last}__cfg'" in text
    assert "narrow the filters" in text
    assert resolve_value("{store_entity.configuration.ONE.infos.name [INFOS(name=c)]}", c) == "c"
