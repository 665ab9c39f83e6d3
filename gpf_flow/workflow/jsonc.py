"""JSONC parsing with positions: comments, trailing commas, duplicate keys, line:column of every key.

``json5`` is the reference grammar, but it is a pure-Python parser (about 8 s per MB), far too slow
for large workflows. So :func:`parse_jsonc` first blanks comments and trailing commas *in place*
(same length, newlines kept, so every line:column stays true) and hands the result to the C
``json`` parser; only when that fails (JSON5-only syntax such as single quotes or unquoted keys,
or a real syntax error) does it fall back to ``json5``, whose message then reports the error.

Positions are only needed when something is wrong, so :func:`scan_positions` (a small tokenizer,
not a parser: it only follows nesting to know the JSON path of each key and value) runs lazily.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

JsonPath = tuple[str | int, ...]
"""A location in a JSON document: object keys and array indexes from the root."""

_COMMENT = r"//[^\n]*|/\*[\s\S]*?\*/"
# One match = a run of text to keep (strings, which may hold "//" or ",]", are consumed whole)
# followed by a comment or a trailing comma to blank, or by the end of the text. Possessive
# quantifiers keep it linear, and the callback only runs once per comment or trailing comma.
_STRIP = re.compile(
    r"""(?P<keep>(?:[^"/,]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|/(?![/*])|,(?!(?:\s|"""
    + _COMMENT
    + r""")*[}\]]))*+)(?P<drop>"""
    + _COMMENT
    + r"""|,|\Z)"""
)
_NOT_NEWLINE = re.compile(r"[^\n]")
# Strings and comments, which may hold brackets that are not structure.
_STRING_OR_COMMENT = re.compile(
    r""""[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'|//[^\n]*|/\*[\s\S]*?(?:\*/|$)"""
)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the source text."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one object; the parser keeps the last value."""

    path: JsonPath
    first: Position | None
    second: Position | None


class JsoncSyntaxError(ValueError):
    """The text is not valid JSONC; ``position`` is set when the parser tells where."""

    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def strip_jsonc(text: str) -> str:
    """Return ``text`` with comments and trailing commas replaced by spaces (positions unchanged).

    A comma right after ``[``, ``{`` or another comma (``[,]``) follows no value, so it is not a
    trailing comma: it is kept, and the JSON parser rejects it as ``json5`` does.
    """
    if "/" not in text and not re.search(r",\s*[}\]]", text):
        return text
    last = ""  # the last character kept that is not blank (comments are blank)

    def blank(match: re.Match[str]) -> str:
        nonlocal last
        keep, drop = match.group("keep"), match.group("drop")
        kept = keep.rstrip()
        if kept:
            last = kept[-1]
        if drop == "," and (not last or last in "[{,"):
            return keep + drop
        return keep + _NOT_NEWLINE.sub(" ", drop)

    return _STRIP.sub(blank, text)


class _PairsHook:
    """``object_pairs_hook`` that builds dicts (last value wins) and notes if any key repeats."""

    def __init__(self) -> None:
        self.duplicates = False

    def __call__(self, pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        pairs = list(pairs)
        result = dict(pairs)
        if len(result) != len(pairs):
            self.duplicates = True
        return result


MAX_DEPTH = 200
"""Deepest nesting of arrays and objects accepted in a JSONC document (workflows, parameters
files, descriptors): far beyond any real document, well below Python's recursion limit."""


def nesting_depth(text: str) -> int:
    """How deeply ``[``/``{`` nest in JSON(C) text, strings and comments skipped (linear)."""
    brackets = _NOT_BRACKET.sub("", _STRING_OR_COMMENT.sub("", text))
    if not brackets:
        return 0
    return max(0, max(accumulate(1 if char in "[{" else -1 for char in brackets)))


def parse_jsonc(text: str) -> tuple[Any, bool]:
    """Parse JSONC/JSON5 text; return the document and whether some object repeats a key.

    Raises :class:`JsoncSyntaxError` with the parser's message and position, also for a document
    nested more than :data:`MAX_DEPTH` levels deep or a number out of range.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if nesting_depth(text) > MAX_DEPTH:
        raise JsoncSyntaxError(f"arrays and objects are nested more than {MAX_DEPTH} levels deep", None)
    hook = _PairsHook()
    try:
        return json.loads(strip_jsonc(text), object_pairs_hook=hook), hook.duplicates
    except json.JSONDecodeError:
        pass
    except (ValueError, RecursionError) as exc:  # an integer of more than 4300 digits
        raise JsoncSyntaxError(str(exc), None) from None
    import json5

    hook = _PairsHook()
    try:
        document = json5.loads(text, object_pairs_hook=hook)
    except RecursionError:
        raise JsoncSyntaxError("arrays and objects are nested too deeply", None) from None
    except ValueError as exc:
        raise _json5_error(str(exc)) from None
    return document, hook.duplicates


def _json5_error(message: str) -> JsoncSyntaxError:
    # json5 says "<string>:3 Unexpected "}" at column 7"
    match = re.match(r"<string>:(\d+) (.*?)(?: at column (\d+))?$", message, re.S)
    if not match:
        return JsoncSyntaxError(message, None)
    line, what, column = match.groups()
    return JsoncSyntaxError(what, Position(int(line), int(column or 1)))


_TOKEN = re.compile(
    r"""(?P<ws>\s+)"""
    r"""|(?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|$))"""
    r"""|(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')"""
    r"""|(?P<punct>[{}\[\],:])"""
    r"""|(?P<literal>[^\s{}\[\],:"'/]+|/)"""
)


@dataclass
class _Frame:
    is_object: bool
    path: JsonPath
    index: int = 0
    key: str | None = None
    expect_key: bool = True
    seen: dict[str, Position] = field(default_factory=dict)


@dataclass
class Positions:
    """Where each key and value starts, by JSON path, plus the duplicate keys found."""

    keys: dict[JsonPath, Position] = field(default_factory=dict)
    values: dict[JsonPath, Position] = field(default_factory=dict)
    duplicates: list[DuplicateKey] = field(default_factory=list)

    def of(self, path: Iterable[str | int]) -> Position | None:
        """Best position for ``path``: its key if it is an object member, else its value.

        Walks up to the nearest known ancestor when the exact path is not in the text (e.g. a
        path inside an expanded or rendered value).
        """
        current = tuple(path)
        while True:
            if current and isinstance(current[-1], str) and current in self.keys:
                return self.keys[current]
            if current in self.values:
                return self.values[current]
            if not current:
                return None
            current = current[:-1]


def _decode_key(token: str) -> str:
    if token.startswith('"'):
        try:
            return str(json.loads(token))
        except json.JSONDecodeError:
            return token[1:-1]
    return token[1:-1] if token.startswith("'") else token


def scan_positions(text: str) -> Positions:
    """Tokenize ``text`` and record the position of every key and value by JSON path.

    Tolerant: it never raises, so it can locate things even in a document that failed later checks.
    """
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    result = Positions()
    stack: list[_Frame] = []
    line, line_start = 1, 0

    def value_path() -> JsonPath | None:
        if not stack:
            return ()
        top = stack[-1]
        if top.is_object:
            return None if top.expect_key or top.key is None else (*top.path, top.key)
        return (*top.path, top.index)

    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        start = match.start()
        token = match.group(0)
        position = Position(line, start - line_start + 1)
        newlines = token.count("\n")
        if newlines:
            line += newlines
            line_start = start + token.rindex("\n") + 1
        if kind in ("ws", "comment"):
            continue
        top = stack[-1] if stack else None
        if kind == "punct":
            if token == ":":
                if top is not None and top.is_object:
                    top.expect_key = False
            elif token == ",":
                if top is not None:
                    if top.is_object:
                        top.expect_key, top.key = True, None
                    else:
                        top.index += 1
            elif token in "{[":
                path = value_path()
                if path is None:
                    continue
                result.values[path] = position
                stack.append(_Frame(is_object=token == "{", path=path))
            elif stack:
                stack.pop()
            continue
        # a string or a literal: a key when an object waits for one, else a value
        if top is not None and top.is_object and top.expect_key:
            key = _decode_key(token)
            path = (*top.path, key)
            if key in top.seen:
                result.duplicates.append(DuplicateKey(path, top.seen[key], position))
            else:
                top.seen[key] = position
            result.keys[path] = position
            top.key = key
            continue
        path = value_path()
        if path is not None:
            result.values[path] = position
    return result
