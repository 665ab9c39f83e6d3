"""``gpf-flow entities list|get|delete``: look at (and remove) the store's entities."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli.common import ConfigOption, HomeOption, StoreOption

if TYPE_CHECKING:
    from gpf_flow.store.base import Store

from gpf_flow.store.base import EntityType

entities_app = typer.Typer(
    help="List, show and delete store entities (uploads, stored data, executions, offerings...).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

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


def _opened_store(store: str | None, home: str | None, config: str | None) -> "Store":
    """The store the options name (a context manager: ``with`` closes it)."""
    from gpf_flow.cli.common import open_store_from_options

    return open_store_from_options(store, home, config)


def _echo_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


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
    from gpf_flow.cli.common import console
    from gpf_flow.render.tables import entities_table
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
    table = entities_table(kind, items, total, paged=page is not None, with_tags=kind in TAGGABLE_TYPES)
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
    from gpf_flow.cli.common import console
    from gpf_flow.render.tables import entity_table

    kind = _check_type(entity_type)
    with _opened_store(store, home, config) as opened:
        entity = opened.get_entity(kind, entity_id)
    if json_output:
        _echo_json(entity)
        return
    console().print(entity_table(kind, entity_id, entity))


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
