"""Jinja2 load-time parameters: defaults, -p, --params-file, missing values, untouched files."""

from __future__ import annotations

import json
from pathlib import Path

import json5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workflow_helpers import run_cli, templated_doc

from gpf_flow.errors import UsageError, WorkflowError
from gpf_flow.workflow.load import load_workflow, load_workflow_text

DOC = {
    "parameters": {
        "layer": {"description": "layer", "default": "zones"},
        "level": {"description": "bottom level", "default": 18},
        "upload": {"description": "upload name", "required": True},
    },
    "workflow": {
        "steps": {
            "conf-{{ layer }}": {
                "actions": [
                    {
                        "type": "configuration",
                        "body_parameters": {
                            "layer_name": "{user.last_name}__{{ layer }}",
                            "level": "{{ level }}",
                            "upload": "{store_entity.upload.infos._id [INFOS(name={{ upload }})]}",
                            "loop": "{% for i in range(3) %}{{ i }}{% endfor %}",
                        },
                    }
                ]
            }
        }
    },
}


def body(workflow) -> dict:  # type: ignore[no-untyped-def, type-arg]
    (step,) = workflow.steps.values()
    return dict(step.actions[0].data["body_parameters"])


def test_defaults_and_p() -> None:
    workflow = load_workflow_text(json.dumps(DOC), params={"upload": "UP", "unused": "x"})
    assert list(workflow.steps) == ["conf-zones"]
    assert body(workflow) == {
        "layer_name": "{user.last_name}__zones",
        "level": "18",
        "upload": "{store_entity.upload.infos._id [INFOS(name=UP)]}",
        "loop": "012",
    }
    workflow = load_workflow_text(json.dumps(DOC), params={"upload": "UP", "layer": "roads"})
    assert body(workflow)["layer_name"] == "{user.last_name}__roads"
    assert list(workflow.steps) == ["conf-roads"]


def test_params_file_then_p_wins(tmp_path: Path) -> None:
    params_file = tmp_path / "p.json"
    params_file.write_text('{"upload": "FROM_FILE", "layer": "file_layer"}  // comment ok\n')
    workflow = load_workflow_text(json.dumps(DOC), params={"layer": "cli"}, params_file=params_file)
    assert body(workflow)["layer_name"] == "{user.last_name}__cli"
    assert "FROM_FILE" in body(workflow)["upload"]


def test_missing_required_parameter_names_it() -> None:
    with pytest.raises(UsageError) as caught:
        load_workflow_text(json.dumps(DOC))
    assert "`upload`" in str(caught.value)
    assert caught.value.exit_code == 2


def test_declared_without_value_and_used_is_named() -> None:
    doc = templated_doc("{{ x }}", {"x": {"description": "no default"}})
    with pytest.raises(UsageError) as caught:
        load_workflow_text(json.dumps(doc))
    assert "parameter `x` has no value" in str(caught.value)
    assert "-p x VALUE" in str(caught.value)


def test_attribute_of_parameter_is_an_error_not_silence() -> None:
    doc = templated_doc("{{ x.nope }}", {"x": {"default": "v"}})
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(json.dumps(doc))
    assert "steps.a.actions[0].body_parameters.n" in str(caught.value)


def test_values_with_quotes_and_braces_stay_in_their_string() -> None:
    workflow = load_workflow_text(json.dumps(DOC), params={"upload": 'a "b" {c} }}', "layer": "l"})
    assert body(workflow)["upload"] == '{store_entity.upload.infos._id [INFOS(name=a "b" {c} }})]}'


def test_without_jinja_the_document_is_unchanged() -> None:
    text = (Path(__file__).parent / "data" / "anchor-sdk-style.jsonc").read_text(encoding="utf-8")
    workflow = load_workflow_text(text, params={"anything": "x"})
    assert workflow.document == json5.loads(text)
    # the same string objects as parsed: nothing was re-rendered
    assert json.dumps(workflow.document, ensure_ascii=False) == json.dumps(
        json5.loads(text), ensure_ascii=False
    )


def test_jsonc_comments_with_braces_are_not_rendered(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonc"
    path.write_text(
        "// {{ not_a_parameter }} in a comment is ignored\n"
        '{"parameters": {"a": {"default": "A"}}, /* {% nor this %} */\n'
        '"workflow": {"steps": {"s": {"actions": [{"type": "configuration",\n'
        '"body_parameters": {"n": "{{ a }}"}}]}}}}'
    )
    assert body(load_workflow(path)) == {"n": "A"}


def test_cli_p_takes_two_values(write) -> None:  # type: ignore[no-untyped-def]
    path = write(DOC)
    result = run_cli("validate", str(path), "-p", "upload", "MY UPLOAD", "--param", "layer", 'quote"d')
    assert result.code == 0, result.err
    assert "upload = 'MY UPLOAD' (-p)" in result.out
    assert "layer = 'quote\"d' (-p)" in result.out
    assert "level = '18' (default)" in result.out


def test_cli_params_file(write) -> None:  # type: ignore[no-untyped-def]
    path = write(DOC)
    params = write({"upload": "FILE_UPLOAD"}, "params.json")
    result = run_cli("validate", str(path), "--params-file", str(params))
    assert result.code == 0, result.err
    assert "upload = 'FILE_UPLOAD' (--params-file)" in result.out


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["{{ a }}", "{{b}}", "{{  a  }}", "x", "{", "}", " ", "{user.last_name}", "é", "\r\n", "\r", "\n"]
            + ["{{ not }}"]
        ),
        max_size=8,
    ),
    st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.floats(allow_nan=False)),
    st.text(max_size=10),
)
def test_plain_substitution_renders_like_jinja2(pieces: list[str], a: object, b: str) -> None:
    import jinja2

    text = "".join(pieces)
    doc = templated_doc(text, {"a": {"default": a}, "b": {"default": b}, "not": {"default": "n"}})
    if not any(marker in text for marker in ("{{", "{%", "{#")):
        # without Jinja2 syntax a string is not rendered at all (Jinja2 would turn \r\n into \n)
        assert body(load_workflow_text(json.dumps(doc)))["n"] == text
        return
    # the loader's environment keeps a trailing newline (the string's value is kept whole)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        expected = environment.from_string(text).render({"a": a, "b": b, "not": "n"})
    except jinja2.TemplateError:
        with pytest.raises(WorkflowError):
            load_workflow_text(json.dumps(doc))
        return
    assert body(load_workflow_text(json.dumps(doc)))["n"] == expected


def test_jinja_constants_are_not_parameters() -> None:
    assert body(load_workflow_text(json.dumps(templated_doc("{{ true }}"))))["n"] == "True"


def test_cli_p_with_one_value_is_usage_error(write) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("validate", str(write(DOC)), "-p", "upload")
    assert result.code == 2
    assert "requires 2 arguments" in result.err


def test_two_keys_rendered_to_one_name_are_an_error() -> None:
    doc = {
        "parameters": {"a": {"default": "x"}, "b": {"default": "x"}},
        "workflow": {
            "steps": {
                "conf-{{ a }}": {"actions": [{"type": "configuration"}]},
                "conf-{{ b }}": {"actions": [{"type": "configuration"}]},
            }
        },
    }
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(json.dumps(doc))
    # the path is the second key as written in the file
    assert 'steps["conf-{{ b }}"]: after rendering, two keys are both `conf-x`' in str(caught.value)
    assert "different names" in str(caught.value)
