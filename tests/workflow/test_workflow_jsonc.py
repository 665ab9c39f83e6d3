"""The JSONC layer: fast path equals json5, positions and duplicates, JSON5-only syntax."""

from __future__ import annotations

import json5
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpf_flow.workflow.jsonc import JsoncSyntaxError, Position, parse_jsonc, scan_positions, strip_jsonc

TEXT = """// head comment with "quotes" and {braces}
{
  "url": "http://example.org//not-a-comment,]",   // tail comment
  "list": [1, 2, /* inner */ 3,],
  /* block
     comment */
  "nested": {"a": {"b": ["x", {"c": "y"}]},},
  "escaped": "a \\" // still a string",
}
"""


def test_fast_path_equals_json5() -> None:
    document, duplicates = parse_jsonc(TEXT)
    assert document == json5.loads(TEXT)
    assert duplicates is False


def test_a_comma_after_no_value_is_an_error_as_in_json5() -> None:
    for text in ("[,]", '{"a": {,}}', "[1, /* c */ ,]"):
        with pytest.raises(ValueError):
            json5.loads(text)
        with pytest.raises(JsoncSyntaxError):
            parse_jsonc(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["[", "]", "{", "}", ",", ":", "1", '"a"', '"/*,]"', " ", "\n", "// c\n", "/* c */"]),
        max_size=12,
    )
)
def test_fast_path_accepts_and_rejects_like_json5(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        expected = json5.loads(text)
    except ValueError:
        with pytest.raises(JsoncSyntaxError):
            parse_jsonc(text)
        return
    assert parse_jsonc(text)[0] == expected


def test_strip_keeps_every_position() -> None:
    stripped = strip_jsonc(TEXT)
    assert len(stripped) == len(TEXT)
    assert stripped.count("\n") == TEXT.count("\n")
    assert "//not-a-comment,]" in stripped and "tail comment" not in stripped


def test_json5_only_syntax_falls_back_to_json5() -> None:
    text = "{unquoted: 'single', hex: 0x10, 'trailing': [1,],}"
    assert parse_jsonc(text)[0] == {"unquoted": "single", "hex": 16, "trailing": [1]}


def test_syntax_error_has_a_position() -> None:
    with pytest.raises(JsoncSyntaxError) as caught:
        parse_jsonc('{\n  "a": 1,\n  "b": ]\n}')
    assert caught.value.position is not None
    assert caught.value.position.line == 3


def test_positions_of_keys_and_values() -> None:
    positions = scan_positions(TEXT)
    assert positions.keys[("url",)] == Position(3, 3)
    assert positions.values[("url",)] == Position(3, 10)
    assert positions.values[("list", 2)] == Position(4, 30)
    assert positions.keys[("nested", "a", "b")] == Position(7, 20)
    assert positions.values[("nested", "a", "b", 1, "c")] == Position(7, 37)
    assert positions.of(("nested", "a", "b", 1, "zzz")) == Position(
        7, 31
    )  # nearest known ancestor: the object


def test_duplicates_in_nested_objects_with_both_lines() -> None:
    text = '{\n "a": {\n  "k": 1,\n  "k": 2\n },\n "a": 3\n}'
    document, duplicates = parse_jsonc(text)
    assert duplicates and document == {"a": 3}
    found = {
        (d.path, d.first.line if d.first else 0, d.second.line if d.second else 0)
        for d in scan_positions(text).duplicates
    }
    assert found == {(("a", "k"), 3, 4), (("a",), 2, 6)}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab/*,]}"\\ \n{x')),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_round_trips(value: object) -> None:
    import json

    text = json.dumps(value, indent=1)
    assert parse_jsonc(text)[0] == value
    assert parse_jsonc(text.replace("\n", " // c\n"))[0] == value


def _paths(value: object, prefix: tuple = ()) -> set[tuple]:  # type: ignore[type-arg]
    found = {prefix}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _paths(item, (*prefix, index))
    return found


@settings(max_examples=150, deadline=None)
@given(json_values, st.booleans())
def test_every_value_has_a_position(value: object, compact: bool) -> None:
    import json

    text = json.dumps(value, indent=None if compact else 2, ensure_ascii=False)
    positions = scan_positions(text)
    lines = text.split("\n")
    for path in _paths(value):
        position = positions.values[path]
        line = lines[position.line - 1]
        # the value starts where a JSON value can start
        assert line[position.column - 1] in '{["-0123456789tfn', (path, position)
        if path and isinstance(path[-1], str):
            key_position = positions.keys[path]
            key_line = lines[key_position.line - 1]
            assert key_line[key_position.column - 1 :].startswith(json.dumps(path[-1], ensure_ascii=False))
