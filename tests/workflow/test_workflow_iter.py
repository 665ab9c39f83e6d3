"""``iter_key`` / ``iter_vals`` expansion: string values and object values."""

from __future__ import annotations

import json

import pytest

from gpf_flow.errors import WorkflowError
from gpf_flow.workflow.load import load_workflow_text


def one_step(step: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({"workflow": {"steps": {"s": step}}})


def test_string_values_repeat_the_actions() -> None:
    step = {
        "iter_key": "zone",
        "iter_vals": ["nord", "sud"],
        "actions": [
            {"type": "configuration", "body_parameters": {"name": "conf_{zone}", "layer_name": "{zone}"}},
            {
                "type": "offering",
                "url_parameters": {
                    "configuration": "{store_entity.configuration.infos._id [INFOS(name=conf_{zone})]}"
                },
            },
        ],
    }
    actions = load_workflow_text(one_step(step)).steps["s"].actions
    assert [a.type for a in actions] == ["configuration", "offering", "configuration", "offering"]
    assert [a.index for a in actions] == [0, 1, 2, 3]
    assert actions[0].data["body_parameters"] == {"name": "conf_nord", "layer_name": "nord"}
    assert actions[2].data["body_parameters"] == {"name": "conf_sud", "layer_name": "sud"}
    assert actions[3].data["url_parameters"]["configuration"] == (
        "{store_entity.configuration.infos._id [INFOS(name=conf_sud)]}"
    )


def test_object_values_fill_fields_and_list_dict_forms() -> None:
    step = {
        "iter_key": "item",
        "iter_vals": [
            {"name": "a", "level": 12, "extent": {"bbox": [1, 2, 3, 4]}},
            {"name": "b", "level": 14, "extent": {"bbox": [5, 6, 7, 8]}},
        ],
        "actions": [
            {
                "type": "configuration",
                "body_parameters": {
                    "name": "{item.name}_conf",
                    "level": "{item.level}",
                    "bbox": ["_item_", "extent.bbox"],
                    "extent": {"_item_": "extent"},
                    "unrelated": "{user.last_name}",
                },
            }
        ],
    }
    actions = load_workflow_text(one_step(step)).steps["s"].actions
    assert len(actions) == 2
    body = actions[1].data["body_parameters"]
    assert body["name"] == "b_conf"
    assert body["level"] == "14"
    assert body["bbox"] == [5, 6, 7, 8]
    assert body["extent"] == {"bbox": [5, 6, 7, 8]}
    assert body["unrelated"] == "{user.last_name}"


def test_object_value_without_the_field_is_an_error() -> None:
    step = {
        "iter_key": "item",
        "iter_vals": [{"name": "a"}, {"nom": "b"}],
        "actions": [{"type": "configuration", "body_parameters": {"name": "{item.name}"}}],
    }
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(one_step(step))
    message = str(caught.value)
    assert "steps.s.iter_vals[1]" in message
    assert "no field `name`" in message
    assert "nom" in message  # the fields it does have


def test_steps_without_iteration_are_untouched() -> None:
    step = {"actions": [{"type": "configuration", "body_parameters": {"name": "{zone}"}}]}
    actions = load_workflow_text(one_step(step)).steps["s"].actions
    assert actions[0].data["body_parameters"]["name"] == "{zone}"
