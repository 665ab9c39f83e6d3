"""The list filter's ``%`` wildcard: linear, and the same answers as a regular expression would give."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gpf_flow.store.local.filters import matches, value_matches, wildcard_match


def _reference(pattern: str, value: str) -> bool:
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("%")), value, re.DOTALL) is not None


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab%.*\n", max_size=12), st.text(alphabet="ab.*\n", max_size=16))
def test_wildcard_agrees_with_a_regular_expression(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value) == _reference(pattern, value)


def test_many_wildcards_answer_at_once() -> None:
    value = "a" * 5000
    assert not wildcard_match("%" * 10000 + "X", value)
    assert wildcard_match("%a" * 2000 + "%", value)
    assert not value_matches(value, "%" * 30 + "X", wildcard=True)


def test_filter_on_names_uses_the_wildcard() -> None:
    entity = {"name": "ortho-2024", "type": "RASTER"}
    assert matches("upload", entity, {"name": "ortho%"}, None)
    assert not matches("upload", entity, {"name": "%2023"}, None)
    assert not matches("upload", entity, {"type": "RAST%"}, None)  # only names take wildcards
