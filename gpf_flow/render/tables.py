"""Tables for people: step states (``status``), store entities (``entities``), the user (``me``),
the catalog and the sample datasets.

The CLI gets its data from the library and hands it here; nothing in this module talks to a store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from gpf_flow.render.console import STATUS_STYLES

if TYPE_CHECKING:
    from gpf_flow.catalog import CatalogEntry
    from gpf_flow.datasets.registry import SampleDataset
    from gpf_flow.engine.state import StepRecord
    from gpf_flow.workflow.model import Workflow

NEVER_RUN = "never run"

ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "upload": ("_id", "name", "type", "status", "srs", "size"),
    "stored_data": ("_id", "name", "type", "status", "srs", "size"),
    "processing": ("_id", "name"),
    "processing_execution": ("_id", "processing.name", "status", "creation"),
    "configuration": ("_id", "name", "layer_name", "type", "status"),
    "offering": ("_id", "layer_name", "type", "status", "endpoint.technical_name"),
    "static": ("_id", "name", "type", "description"),
    "endpoint": ("_id", "technical_name", "type", "name"),
    "datastore": ("_id", "name", "technical_name"),
    "permission": ("_id", "licence", "type", "end_date"),
    "key": ("_id", "name", "type"),
    "check": ("_id", "name", "description"),
    "check_execution": ("_id", "check.name", "status", "creation"),
}
"""Columns of ``entities list`` for each type: dotted paths into the entity."""


def status_rows(
    workflow: Workflow, records: Mapping[str, StepRecord], gone: Mapping[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Each step of the workflow, in order, with its last record (``status --output json``); ``gone``
    names the steps recorded done whose entities are no longer in the store, with why."""
    gone = gone or {}
    rows = []
    for name in workflow.steps:
        rec = records.get(name)
        rows.append(
            {
                "step": name,
                "status": ("gone" if name in gone else rec.status) if rec else NEVER_RUN,
                "gone": gone.get(name),
                "run_id": rec.run_id if rec else None,
                "started": rec.started if rec else None,
                "finished": rec.finished if rec else None,
                "error": rec.error if rec else None,
            }
        )
    return rows


def status_table(
    workflow: Workflow, records: Mapping[str, StepRecord], gone: Mapping[str, list[str]] | None = None
) -> Table:
    """The ``status`` table: step, status, run, finished, duration, first line of the error (or, for a
    step shown "gone", what of its work is no longer in the store)."""
    gone = gone or {}
    table = Table(title=f"{workflow.name}: last state of each step")
    for column in ("step", "status", "run", "finished", "duration", "error"):
        table.add_column(column)
    for name in workflow.steps:
        rec = records.get(name)
        if rec is None:
            table.add_row(name, f"[dim]{NEVER_RUN}[/dim]", "", "", "", "")
            continue
        finished = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec.finished)) if rec.finished else ""
        duration = f"{rec.finished - rec.started:.1f}s" if rec.finished else ""
        error = (rec.error or "").splitlines()[0] if rec.error else ""
        style = STATUS_STYLES.get(rec.status, "")
        shown = rec.status
        if name in gone:  # recorded done, but what it made is no longer there
            style, shown, error = "yellow", "gone", "; ".join(gone[name])
        table.add_row(name, f"[{style}]{shown}[/]", str(rec.run_id), finished, duration, error)
    return table


def dig(entity: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``endpoint.technical_name``), None when a part is missing."""
    value: Any = entity
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def cell(value: Any) -> str:
    """A table cell: empty for None, compact JSON for objects and lists."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def entities_table(
    kind: str,
    items: Sequence[Mapping[str, Any]],
    total: int,
    *,
    paged: bool = False,
    with_tags: bool = False,
) -> Table:
    """The ``entities list`` table: the type's columns, plus ``tags`` for taggable types."""
    columns = ENTITY_COLUMNS.get(kind, ("_id", "name"))
    table = Table(title=f"{kind} ({len(items)} of {total})" if paged else f"{kind} ({total})")
    for column in columns:
        table.add_column(column, overflow="fold")
    if with_tags:
        table.add_column("tags", overflow="fold")
    for item in items:
        row = [escape(cell(dig(item, c))) for c in columns]
        if with_tags:
            row.append(escape(", ".join(f"{k}={v}" for k, v in (item.get("tags") or {}).items())))
        table.add_row(*row)
    return table


def entity_table(kind: str, entity_id: str, entity: Mapping[str, Any]) -> Table:
    """The ``entities get`` table: one row per field, objects as indented JSON."""
    table = Table(title=f"{kind} {entity_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in entity.items():
        text = (
            json.dumps(value, indent=1, ensure_ascii=False) if isinstance(value, dict | list) else cell(value)
        )
        table.add_row(escape(key), escape(text))
    return table


def communities_table(user: Mapping[str, Any]) -> Table:
    """``me``: the user's communities with their datastore ids and rights."""
    table = Table(title="communities and datastores")
    table.add_column("community", overflow="fold")
    table.add_column("technical name", overflow="fold")
    table.add_column("datastore id", no_wrap=True, min_width=36)
    table.add_column("rights", overflow="fold")
    for member in user.get("communities_member") or []:
        community = member.get("community") or {}
        rights = member.get("rights") or []
        if isinstance(rights, dict):
            rights = [k for k, v in rights.items() if v]
        table.add_row(
            escape(str(community.get("name", ""))),
            escape(str(community.get("technical_name", ""))),
            escape(str(community.get("datastore") or "-")),
            escape(", ".join(map(str, rights))),
        )
    return table


def catalog_table(entries: Sequence[CatalogEntry]) -> Table:
    """``catalog list``: name, title, description."""
    table = Table(title="gpf-flow catalog")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("description", style="dim")
    for entry in entries:
        table.add_row(entry.name, entry.title, entry.description)
    return table


def datasets_table(samples: Sequence[SampleDataset]) -> Table:
    """``dataset list``: the sample datasets and the uploads they make."""
    table = Table(title="Sample datasets (gpf-flow dataset get NAME)")
    for column in ("name", "upload name", "type", "description"):
        table.add_column(column)
    for s in samples:
        table.add_row(s.name, s.upload_name, s.upload_type, s.description)
    return table
