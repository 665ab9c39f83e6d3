"""The jsonschema-rs pre-check never accepts a workflow that jsonschema rejects.

`gpf_flow.workflow.schema.validate_document` returns at once when jsonschema-rs finds a document
valid (jsonschema is slow to import); any other answer goes to jsonschema, which writes the
messages. So the pre-check is only safe if its "valid" is jsonschema's "valid": these tests draw
documents around the schema (valid ones, and ones with a wrong type, an unknown key, a missing
key, a bad enum value or a bad parameter name somewhere) and compare the two verdicts.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gpf_flow.errors import WorkflowError
from gpf_flow.workflow.locate import Source
from gpf_flow.workflow.schema import _surely_valid, validate_document, workflow_schema

SCHEMA = workflow_schema()
DEFS = SCHEMA["$defs"]
REFERENCE = Draft202012Validator(SCHEMA)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
any_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_TYPES = {
    "string": st.text(max_size=8) | st.sampled_from(["", "a\n", "é", "\U0001f600", "x" * 3]),
    "number": st.integers(min_value=-(10**30), max_value=10**30) | st.floats(allow_nan=False),
    "boolean": st.booleans(),
    "object": st.dictionaries(st.text(max_size=4), any_json, max_size=2),
    "array": st.lists(any_json, max_size=2),
}


@st.composite
def near(draw: st.DrawFn, schema: dict[str, Any], depth: int = 0) -> Any:
    """Values that mostly follow ``schema``, now and then with something wrong."""
    if depth and draw(st.integers(0, 24)) == 0:
        return draw(any_json)
    return draw(follow(schema, depth))


def follow(schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return near(DEFS[schema["$ref"].rsplit("/", 1)[-1]], depth + 1)
    if "enum" in schema:
        wrong = st.sampled_from(["not-an-action", "Configuration", 3])
        return st.integers(0, 9).flatmap(lambda i: wrong if i == 0 else st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if kind == "array" and "items" in schema:
        return st.lists(near(schema["items"], depth + 1), max_size=3)
    if kind == "object" and ("properties" in schema or "additionalProperties" in schema):
        return objects(schema, depth)
    if kind == "string" and "minLength" in schema:
        return st.sampled_from(["", "k", "key", "é"])
    if isinstance(kind, list):
        return st.one_of(*(_TYPES[k] for k in kind))
    return _TYPES.get(kind, any_json) if isinstance(kind, str) else any_json


@st.composite
def objects(draw: st.DrawFn, schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    result: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in required or draw(st.integers(0, 5)) == 0:
            result[name] = draw(near(sub, depth + 1))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        names = st.sampled_from(["a", "b_1", "_x", "Zz9", "c", "d", "e", "f", "1a", "a-b", "a\n", "é"])
        for name in draw(st.lists(names, max_size=2, unique=True)):
            result[name] = draw(near(extra, depth + 1))
    if draw(st.integers(0, 24)) == 0:  # an unknown key, or a required one missing
        if required and draw(st.booleans()):
            result.pop(sorted(required)[0], None)
        else:
            result["unknown_key"] = draw(any_json)
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near(SCHEMA))
def test_quick_check_valid_means_jsonschema_valid(document: Any) -> None:
    if _surely_valid(document):
        assert REFERENCE.is_valid(document), document


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"workflow": {"steps": {"a": {"actions": [{"type": "configuration"}]}}}}, True),
        ({"workflow": {"steps": {"a": {"actions": [], "iter_key": "k"}}}}, False),
        ({"workflow": {"steps": {}}, "parameters": {"1a": {}}}, False),
        ({"workflow": {"steps": {"a": {"actions": [{"type": "offering", "if_multi": "some"}]}}}}, False),
        ({"workflow": {"steps": {}}, "parameters": {"n": {"default": True}}}, True),
        ({"workflow": {"steps": {}}, "extra": 1}, False),
    ],
)
def test_quick_check_agrees_on_known_documents(document: Any, valid: bool) -> None:
    assert _surely_valid(document) is valid
    assert REFERENCE.is_valid(document) is valid
    if valid:
        validate_document(document, Source("", None))
    else:
        with pytest.raises(WorkflowError):
            validate_document(document, Source("", None))
