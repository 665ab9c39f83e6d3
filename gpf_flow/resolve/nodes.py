"""The syntax tree of workflow templates (``{store_entity...}``, ``{user...}``, ``{params...}``...).

A string is parsed into an :class:`Interpolated` sequence of literal :class:`Text` and template
nodes. Filter values of ``store_entity`` templates are themselves :class:`Interpolated`, which is
how nested templates (``INFOS(name={user.last_name}__x)``) are represented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PathSegment = str | int
"""One step of a field path: a key (``output``) or a list index (``[0]``)."""


@dataclass(frozen=True)
class Text:
    """Literal text."""

    value: str


@dataclass(frozen=True)
class Template:
    """Base of every template node; ``source`` is the exact text as written (``{...}``)."""

    source: str
    resolver: str


@dataclass(frozen=True)
class Interpolated:
    """Literal text and templates, in order."""

    parts: tuple[Text | Template, ...]

    @property
    def templates(self) -> tuple[Template, ...]:
        """The templates among the parts."""
        return tuple(p for p in self.parts if isinstance(p, Template))

    @property
    def is_literal(self) -> bool:
        """No template: the string is kept as it is."""
        return not self.templates

    @property
    def whole(self) -> Template | None:
        """The template when the string is exactly one template and nothing else."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Template):
            return self.parts[0]
        return None


@dataclass(frozen=True)
class Filter:
    """One ``key=value`` pair of an ``INFOS(...)`` or ``TAGS(...)`` block."""

    key: str
    value: Interpolated


@dataclass(frozen=True)
class StoreEntityRef(Template):
    """``{store_entity.<type>.[ONE.|ALL.][infos.<path>|tags.<key>] [INFOS(...), TAGS(...)]}``."""

    entity_type: str = ""
    select: Literal["FIRST", "ONE", "ALL"] = "FIRST"
    """``FIRST`` when neither ``ONE`` nor ``ALL`` is written (entity #1, like ``ONE``)."""
    kind: Literal["infos", "tags", "entity"] = "entity"
    path: tuple[PathSegment, ...] = ()
    infos: tuple[Filter, ...] = field(default_factory=tuple)
    tags: tuple[Filter, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PathRef(Template):
    """``{user.<path>}``, ``{params.<key>}`` or ``{iter_resolve_N.<path>}``: a lookup in a document."""

    path: tuple[PathSegment, ...] = ()
    raw: str = ""
    """The text after ``<resolver>.`` (``params`` keys are taken verbatim)."""


@dataclass(frozen=True)
class DateRef(Template):
    """``{datetime.now[.add(days=-1, ...)].date|time|datetime|strtime(<fmt>)}``."""

    shifts: tuple[tuple[str, float], ...] = ()
    output: Literal["date", "time", "datetime", "strtime"] = "datetime"
    fmt: str = ""


@dataclass(frozen=True)
class FileRef(Template):
    """``{files.str|list|dict(<path>)}``: a file's contents, relative to the workflow file."""

    mode: Literal["str", "list", "dict"] = "str"
    file: str = ""
