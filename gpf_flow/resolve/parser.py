"""A recursive-descent parser for the template syntax of workflow strings.

The grammar (docs/workflow-format.md §5, with gpf-flow's ``files`` resolver)::

    string      := (text | template)*
    template    := "{" RESOLVER "." body "}"           -- only known resolver names start a template
    body        := store_entity | datetime | files | params | path
    store_entity:= TYPE ("." ("ONE"|"ALL"))? ("." "infos" "." path | "." "tags" "." KEY)? WS* "[" block* "]"
    block       := ("INFOS"|"TAGS") "(" (pair ("," pair)*)? ")" ","?
    pair        := KEY "=" value                        -- value: text and nested templates
    datetime    := "now" ("." "add" "(" UNIT "=" NUMBER ("," UNIT "=" NUMBER)* ")")*
                   "." ("date" | "time" | "datetime" | "strtime" "(" FORMAT ")")
    files       := ("str"|"list"|"dict") "(" PATH ")"
    path        := KEY ("." KEY | "[" INT "]")*

A ``{`` that does not open a known resolver (``{z}`` in a URL, JSON text) is literal text, so
strings that merely contain braces are left alone.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from gpf_flow.errors import WorkflowError
from gpf_flow.resolve.nodes import (
    DateRef,
    FileRef,
    Filter,
    Interpolated,
    PathRef,
    PathSegment,
    StoreEntityRef,
    Template,
    Text,
)

STORE_ENTITY_TYPES = (
    "upload",
    "stored_data",
    "processing_execution",
    "offering",
    "processing",
    "configuration",
    "endpoint",
    "static",
    "datastore",
    "permission",
    "key",
)
DEFAULT_RESOLVERS = ("store_entity", "user", "params", "datetime", "files")
DATE_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")

_IDENT_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_IDENT_CHARS = _IDENT_START + "0123456789"


class TemplateSyntaxError(WorkflowError):
    """A template is malformed; the message points at the column."""


def is_resolver_name(name: str, extra: Collection[str] = ()) -> bool:
    """Whether ``name`` opens a template: a default resolver, ``iter_resolve_N`` or an extra one."""
    return name in DEFAULT_RESOLVERS or name in extra or name.startswith("iter_resolve_")


class _Parser:
    def __init__(self, text: str, extra: Collection[str]) -> None:
        self.text = text
        self.pos = 0
        self.extra = extra

    # -- low level ----------------------------------------------------------------------------
    def error(self, message: str, pos: int | None = None) -> TemplateSyntaxError:
        at = self.pos if pos is None else pos
        caret = " " * at + "^"
        return TemplateSyntaxError(
            f"invalid template at column {at + 1}: {message}\n    {self.text}\n    {caret}",
            hint="templates look like {store_entity.<type>.infos.<field> [INFOS(k=v)]}, "
            "{user.<field>}, {params.<key>}, {datetime.now.date}, {files.str(<path>)}",
        )

    def peek(self, n: int = 0) -> str:
        i = self.pos + n
        return self.text[i] if i < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def expect(self, char: str, what: str | None = None) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if not self.at_end() else "the end of the string"
            raise self.error(f"expected {what or repr(char)}, found {found}")
        self.pos += 1

    def skip_ws(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def ident(self) -> str:
        start = self.pos
        if self.peek() and self.peek() in _IDENT_START:
            while self.peek() and self.peek() in _IDENT_CHARS:
                self.pos += 1
        return self.text[start : self.pos]

    def read_until(self, stops: str) -> str:
        start = self.pos
        while not self.at_end() and self.peek() not in stops:
            self.pos += 1
        return self.text[start : self.pos]

    # -- strings ------------------------------------------------------------------------------
    def interpolated(self, stops: str = "") -> Interpolated:
        """Text and templates up to the end or to one of ``stops`` outside parentheses."""
        parts: list[Text | Template] = []
        buf: list[str] = []
        depth = 0
        while not self.at_end():
            char = self.peek()
            if depth == 0 and char in stops:
                break
            if char == "{":
                template = self.try_template()
                if template is not None:
                    if buf:
                        parts.append(Text("".join(buf)))
                        buf = []
                    parts.append(template)
                    continue
            if stops:
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
            buf.append(char)
            self.pos += 1
        if buf:
            parts.append(Text("".join(buf)))
        return Interpolated(tuple(parts))

    def try_template(self) -> Template | None:
        """Parse a template at ``{``, or return None (position unchanged) if it is literal text."""
        start = self.pos
        self.pos += 1
        name = self.ident()
        if not name or self.peek() != "." or not is_resolver_name(name, self.extra):
            self.pos = start
            return None
        self.pos += 1
        template: Template
        if name == "store_entity":
            template = self.store_entity(start)
        elif name == "datetime":
            template = self.datetime(start)
        elif name == "files":
            template = self.files(start)
        elif name == "params":
            key = self.read_until("}").strip()
            if not key:
                raise self.error("a parameter name is expected after 'params.'")
            self.expect("}", "'}' closing the template")
            template = PathRef(self.text[start : self.pos], name, (key,), key)
        else:
            raw_start = self.pos
            path = self.path(" }")
            raw = self.text[raw_start : self.pos]
            self.expect("}", "'}' closing the template")
            template = PathRef(self.text[start : self.pos], name, path, raw)
        return template

    # -- pieces -------------------------------------------------------------------------------
    def path(self, stops: str) -> tuple[PathSegment, ...]:
        """``key(.key|[int])*``; a ``[`` not followed by digits and ``]`` ends the path."""
        segments: list[PathSegment] = []
        while True:
            key = self.read_until(".[]{}()" + stops)
            if key.strip() != key or not key and not (segments and self.peek() == "["):
                raise self.error("a field name is expected")
            if key:
                segments.append(key)
            while self.peek() == "[":
                close = self.text.find("]", self.pos)
                inner = self.text[self.pos + 1 : close] if close > 0 else ""
                if not inner.strip().lstrip("-").isdigit():
                    return tuple(segments)
                segments.append(int(inner))
                self.pos = close + 1
            if self.peek() == ".":
                self.pos += 1
                continue
            return tuple(segments)

    def store_entity(self, start: int) -> StoreEntityRef:
        type_pos = self.pos
        entity_type = self.ident()
        if entity_type not in STORE_ENTITY_TYPES:
            raise self.error(
                f"unknown entity type {entity_type!r} (expected one of {', '.join(STORE_ENTITY_TYPES)})",
                type_pos,
            )
        select = "FIRST"
        kind = "entity"
        path: tuple[PathSegment, ...] = ()
        if self.peek() == ".":
            self.pos += 1
            word_pos = self.pos
            word = self.ident()
            if word in ("ONE", "ALL"):
                select = word
                word = ""
                if self.peek() == ".":
                    self.pos += 1
                    word_pos = self.pos
                    word = self.ident()
            if word == "infos":
                self.expect(".", "'.' and a field after 'infos'")
                kind = "infos"
                path = self.path(" \t")
            elif word == "tags":
                self.expect(".", "'.' and a tag key after 'tags'")
                kind = "tags"
                key = self.read_until(" \t[}").strip()
                if not key:
                    raise self.error("a tag key is expected after 'tags.'")
                path = (key,)
            elif word:
                raise self.error(f"expected ONE, ALL, infos or tags, found {word!r}", word_pos)
            elif select == "FIRST":
                raise self.error("expected ONE, ALL, infos or tags", word_pos)
        self.skip_ws()
        if self.peek() != "[":
            raise self.error("the filter block is mandatory: add [INFOS(k=v)] and/or [TAGS(k=v)]")
        self.pos += 1
        infos: list[Filter] = []
        tags: list[Filter] = []
        while True:
            self.skip_ws()
            if self.peek() == "]":
                self.pos += 1
                break
            word_pos = self.pos
            word = self.ident()
            if word not in ("INFOS", "TAGS"):
                raise self.error("expected INFOS(...), TAGS(...) or ']'", word_pos)
            self.expect("(", "'(' after " + word)
            (infos if word == "INFOS" else tags).extend(self.pairs())
            self.expect(")", f"')' closing {word}(")
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
        self.skip_ws()
        self.expect("}", "'}' closing the template")
        return StoreEntityRef(
            self.text[start : self.pos],
            "store_entity",
            entity_type,
            select,  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            path,
            tuple(infos),
            tuple(tags),
        )

    def pairs(self) -> list[Filter]:
        pairs: list[Filter] = []
        while True:
            self.skip_ws()
            if self.peek() == ")":
                return pairs
            key_pos = self.pos
            key = self.read_until("=),}").strip()
            if self.peek() != "=" or not key:
                raise self.error("expected key=value", key_pos)
            self.pos += 1
            value = _strip(self.interpolated(stops=",)"))
            pairs.append(Filter(key, value))
            if self.peek() == ",":
                self.pos += 1
                continue
            return pairs

    def datetime(self, start: int) -> DateRef:
        word_pos = self.pos
        if self.ident() != "now":
            raise self.error("datetime templates start with 'datetime.now'", word_pos)
        shifts: list[tuple[str, float]] = []
        while True:
            self.expect(".", "'.' and date, time, datetime, strtime(...) or add(...)")
            word_pos = self.pos
            word = self.ident()
            if word == "add":
                self.expect("(", "'(' after add")
                for pair in self.pairs():
                    unit = pair.key if pair.key.endswith("s") else pair.key + "s"
                    text = "".join(p.value for p in pair.value.parts if isinstance(p, Text))
                    if unit not in DATE_UNITS or not pair.value.is_literal:
                        raise self.error(
                            f"unknown unit {pair.key!r} (expected one of {', '.join(DATE_UNITS)})"
                        )
                    try:
                        shifts.append((unit, float(text)))
                    except ValueError:
                        raise self.error(f"{pair.key}={text!r} is not a number") from None
                self.expect(")", "')' closing add(")
            elif word in ("date", "time", "datetime"):
                self.expect("}", "'}' closing the template")
                return DateRef(self.text[start : self.pos], "datetime", tuple(shifts), word)  # type: ignore[arg-type]
            elif word == "strtime":
                self.expect("(", "'(' and a format after strtime")
                fmt = self.balanced()
                self.expect(")", "')' closing strtime(")
                self.expect("}", "'}' closing the template")
                return DateRef(self.text[start : self.pos], "datetime", tuple(shifts), "strtime", fmt)
            else:
                raise self.error("expected add(...), date, time, datetime or strtime(...)", word_pos)

    def balanced(self) -> str:
        """Text up to the ``)`` that closes the current parenthesis."""
        begin = self.pos
        depth = 0
        while not self.at_end():
            char = self.peek()
            if char == ")" and depth == 0:
                break
            depth += {"(": 1, ")": -1}.get(char, 0)
            self.pos += 1
        return self.text[begin : self.pos]

    def files(self, start: int) -> FileRef:
        word_pos = self.pos
        mode = self.ident()
        if mode not in ("str", "list", "dict"):
            raise self.error("expected files.str(path), files.list(path) or files.dict(path)", word_pos)
        self.expect("(", f"'(' after files.{mode}")
        file = self.balanced().strip()
        if not file:
            raise self.error("a file path is expected")
        self.expect(")", "')' closing the path")
        self.expect("}", "'}' closing the template")
        return FileRef(self.text[start : self.pos], "files", mode, file)  # type: ignore[arg-type]


def _strip(value: Interpolated) -> Interpolated:
    parts = list(value.parts)
    if parts and isinstance(parts[0], Text):
        parts[0] = Text(parts[0].value.lstrip())
    if parts and isinstance(parts[-1], Text):
        parts[-1] = Text(parts[-1].value.rstrip())
    return Interpolated(tuple(p for p in parts if not (isinstance(p, Text) and not p.value)))


@lru_cache(maxsize=4096)
def _parse_cached(text: str, extra: frozenset[str]) -> Interpolated:
    parser = _Parser(text, extra)
    result = parser.interpolated()
    return result


def parse(text: str, extra_resolvers: Collection[str] = ()) -> Interpolated:
    """Parse one string into literal text and templates; ``TemplateSyntaxError`` if malformed."""
    if "{" not in text:
        return Interpolated((Text(text),) if text else ())
    return _parse_cached(text, frozenset(extra_resolvers))


def parse_template(source: str, extra_resolvers: Collection[str] = ()) -> Template:
    """Parse a string that must be exactly one template (the list and dict insertion forms)."""
    parsed = parse(source, extra_resolvers)
    whole = parsed.whole
    if whole is None:
        raise TemplateSyntaxError(f"{source!r} is not a single template")
    return whole
