"""``gpf-flow entities list|get|delete``: look at (and remove) the store's entities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli.common import ConfigOption, HomeOption, StoreOption

if TYPE_CHECKING:
    from gpf_flow.store.base import Entity, Store

from gpf_flow.store.base import EntityType

entities_app = typer.Typer(
    help="List, show and delete store entities (uploads, stored data, executions, offerings...).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# Columns of the list tables (dotted paths into the entity).
COLUMNS: dict[str, tuple[str, ...]] = {
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

TypeArg = Annotated[str, typer.Argument(help="Entity type: upload, stored_data, processing_execution, ...")]
InfosOption = Annotated[
    list[str] | None,
    typer.Option(
        "--infos",
        metavar="KEY=VALUE",
        help="Field filter, repeatable (`name=DATA_%`: `%` is a wildcard in names).",
        show_default=False,
    ),
]
TagsOption = Annotated[
    list[str] | None,
    typer.Option("--tags", metavar="KEY=VALUE", help="Tag filter, repeatable.", show_default=False),
]


def register(app: typer.Typer) -> None:
    """Add ``entities`` to the app."""
    app.add_typer(entities_app, name="entities")


def _check_type(entity_type: str) -> EntityType:
    from gpf_flow.errors import UsageError
    from gpf_flow.store.base import ENTITY_TYPES

    value = entity_type.strip().lower().replace("-", "_")
    if value not in ENTITY_TYPES:
        import difflib

        close = difflib.get_close_matches(value, ENTITY_TYPES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"unknown entity type {entity_type!r}", hint=f"{hint}types: {', '.join(ENTITY_TYPES)}"
        )
    return EntityType(value)


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` → ``{"k": "v"}``; a value without ``=`` is a usage error."""
    from gpf_flow.errors import UsageError

    result: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {item!r} is not KEY=VALUE", hint=f"for example {option} name=MY_DATA")
        result[key.strip()] = value
    return result


def _opened_store(store: str | None, home: str | None, config: str | None) -> Store:
    """The store the options name (a context manager: ``with`` closes it)."""
    from gpf_flow.cli.common import open_store_from_options

    return open_store_from_options(store, home, config)


def _echo_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _dig(entity: Entity, path: str) -> Any:
    value: Any = entity
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cell(value: Any) -> str:
    import json

    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@entities_app.command("list")
def list_cmd(
    entity_type: TypeArg,
    infos: InfosOption = None,
    tags: TagsOption = None,
    page: Annotated[
        int | None, typer.Option(help="Fetch only this page (from 1).", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    store: StoreOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """List entities of a type, filtered by `--infos k=v` and `--tags k=v`."""
    from rich.markup import escape
    from rich.table import Table

    from gpf_flow.cli.common import console
    from gpf_flow.store.base import TAGGABLE_TYPES, iter_entities

    kind = _check_type(entity_type)
    info_filters = parse_pairs(infos, "--infos")
    tag_filters = parse_pairs(tags, "--tags")
    with _opened_store(store, home, config) as opened:
        if page is not None:
            result = opened.list_entities(kind, info_filters, tag_filters, page=page, limit=limit)
            items, total = result.items, result.total
        else:
            items = list(iter_entities(opened, kind, info_filters, tag_filters, limit=max(limit, 50)))
            total = len(items)
    if json_output:
        _echo_json(items)
        return
    columns = COLUMNS.get(kind, ("_id", "name"))
    table = Table(title=f"{kind} ({len(items)} of {total})" if page is not None else f"{kind} ({total})")
    for column in columns:
        table.add_column(column, overflow="fold")
    if kind in TAGGABLE_TYPES:
        table.add_column("tags", overflow="fold")
    for item in items:
        row = [escape(_cell(_dig(item, c))) for c in columns]
        if kind in TAGGABLE_TYPES:
            row.append(escape(", ".join(f"{k}={v}" for k, v in (item.get("tags") or {}).items())))
        table.add_row(*row)
    console().print(table)


@entities_app.command("get")
def get_cmd(
    entity_type: TypeArg,
    entity_id: Annotated[str, typer.Argument(help="The entity's id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the entity as JSON.")] = False,
    store: StoreOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Show one entity."""
    import json

    from rich.markup import escape
    from rich.table import Table

    from gpf_flow.cli.common import console

    kind = _check_type(entity_type)
    with _opened_store(store, home, config) as opened:
        entity = opened.get_entity(kind, entity_id)
    if json_output:
        _echo_json(entity)
        return
    table = Table(title=f"{kind} {entity_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in entity.items():
        text = (
            json.dumps(value, indent=1, ensure_ascii=False)
            if isinstance(value, dict | list)
            else _cell(value)
        )
        table.add_row(escape(key), escape(text))
    console().print(table)


@entities_app.command("delete")
def delete_cmd(
    entity_type: TypeArg,
    entity_id: Annotated[str, typer.Argument(help="The entity's id.")],
    store: StoreOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Delete one entity (a PUBLISHED offering is unpublished first: delete it again to remove it)."""
    from rich.markup import escape

    from gpf_flow.cli.common import console
    from gpf_flow.errors import NotFoundError

    kind = _check_type(entity_type)
    with _opened_store(store, home, config) as opened:
        opened.delete_entity(kind, entity_id)
        try:
            left = opened.get_entity(kind, entity_id)
        except NotFoundError:
            left = None
    if left is None:
        console().print(f"deleted {kind} {escape(entity_id)}")
    else:
        status = escape(str(left.get("status")))
        console().print(f"{kind} {escape(entity_id)} is now {status}; delete it again to remove it")
