"""Property tests of the JSONC loader: any text gives a document or a JsoncSyntaxError, and JSON
written by ``json.dumps`` reads back equal."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpf_flow.workflow.jsonc import MAX_DEPTH, JsoncSyntaxError, nesting_depth, parse_jsonc, scan_positions

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_json_reads_back_equal(value: object) -> None:
    document, duplicates = parse_jsonc(json.dumps(value))
    assert document == value and not duplicates


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*"{}[]\",:/*\n \\'abc01-.eE", "//", "/*", "*/"]), max_size=60).map("".join))
def test_any_text_is_a_document_or_a_syntax_error(text: str) -> None:
    with contextlib.suppress(JsoncSyntaxError):
        parse_jsonc(text)
    scan_positions(text)  # the position scanner never raises


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=MAX_DEPTH + 1, max_value=20000), st.sampled_from(["[]", "{}"]))
def test_deep_nesting_is_a_syntax_error(depth: int, pair: str) -> None:
    opening, closing = pair
    text = opening * depth + closing * depth if opening == "[" else '{"a":' * depth + "1" + "}" * depth
    assert nesting_depth(text) == depth
    try:
        parse_jsonc(text)
    except JsoncSyntaxError as exc:
        assert "nested more than" in exc.message
    else:
        raise AssertionError("a document nested this deep must be refused")
