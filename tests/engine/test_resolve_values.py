"""Resolution of whole values: JSON types kept, insertion forms, params, dates, files, errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from gpf_flow.errors import WorkflowError
from gpf_flow.resolve import ResolveContext, find_templates, resolve_value


def ctx(**kwargs: object) -> ResolveContext:
    return ResolveContext(**kwargs)  # type: ignore[arg-type]


def test_whole_template_keeps_its_json_type_inline_becomes_text() -> None:
    c = ctx(params={"n": 3, "l": [1, "a"], "s": "x"})
    body = {"n": "{params.n}", "l": "{params.l}", "inline": "v{params.n}-{params.l}-{params.s}", "keep": 4}
    assert resolve_value(body, c) == {"n": 3, "l": [1, "a"], "inline": 'v3-[1, "a"]-x', "keep": 4}


def test_list_and_dict_insertion_forms() -> None:
    c = ctx(
        params={"ids": '["a", "b"]', "obj": {"k": 1}, "word": "plain"}, values={"iter_resolve_0": {"x": [1]}}
    )
    data = {
        "a": ["_params_", "ids"],
        "b": ["_params.obj"],
        "c": {"_params_": "obj"},
        "d": ["_params_", "word"],
        "e": {"_iter_resolve_0_": "x"},
        "not_a_form": ["_other_", "ids"],
        "two": ["x", "y"],
    }
    assert resolve_value(data, c) == {
        "a": ["a", "b"],
        "b": {"k": 1},
        "c": {"k": 1},
        "d": "plain",
        "e": [1],
        "not_a_form": ["_other_", "ids"],
        "two": ["x", "y"],
    }


def test_keys_are_resolved_too_and_nothing_is_mutated() -> None:
    source = {"{params.k}": ["{params.v}"]}
    assert resolve_value(source, ctx(params={"k": "key", "v": "val"})) == {"key": ["val"]}
    assert source == {"{params.k}": ["{params.v}"]}


def test_missing_parameter_names_it_and_says_how_to_fix() -> None:
    with pytest.raises(WorkflowError) as info:
        resolve_value("{params.producer}", ctx(params={"other": "1"}))
    assert "'producer'" in str(info.value) and "-p producer VALUE" in str(info.value)


def test_datetime_resolver_with_shifts_and_formats() -> None:
    now = datetime(2024, 1, 31, 10, 30)
    c = ctx(now=lambda: now)
    assert resolve_value("{datetime.now.date}", c) == "31/01/2024"
    assert resolve_value("{datetime.now.time}", c) == "10:30"
    assert resolve_value("{datetime.now.datetime}", c) == "31/01/2024 10:30"
    assert resolve_value("{datetime.now.add(months=1).strtime(%Y-%m-%d)}", c) == "2024-02-29"
    assert resolve_value("{datetime.now.add(day=-1,hours=2).strtime(%d %H)}", c) == "30 12"
    assert resolve_value("{datetime.now.add(days=0.5).strtime(%d %H)}", c) == "31 22"


def test_files_resolver_relative_to_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.json").write_text(json.dumps({"x": [1, 2]}))
    (tmp_path / "conf" / "l.json").write_text("[1, 2]")
    (tmp_path / "conf" / "t.txt").write_text("hello")
    c = ctx(base_dir=tmp_path)
    assert resolve_value({"_files_": "dict(conf/a.json)"}, c) == {"x": [1, 2]}
    assert resolve_value(["_files_", "list(conf/l.json)"], c) == [1, 2]
    assert resolve_value("say {files.str(conf/t.txt)}", c) == "say hello"
    with pytest.raises(WorkflowError, match="holds a dict, not a list"):
        resolve_value("{files.list(conf/a.json)}", c)
    with pytest.raises(WorkflowError, match="cannot read"):
        resolve_value("{files.str(conf/missing.txt)}", c)


def test_find_templates_lists_top_level_templates_in_order() -> None:
    value = {
        "a": "{params.x} and {user.last_name}",
        "b": ["_params_", "y"],
        "c": [{"d": "{datetime.now.date}"}],
    }
    assert [t.source for t in find_templates(value)] == [
        "{params.x}",
        "{user.last_name}",
        "{params.y}",
        "{datetime.now.date}",
    ]
