"""Resolution of each template node against a :class:`ResolveContext`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from gpf_flow.errors import WorkflowError
from gpf_flow.resolve.context import ResolveContext
from gpf_flow.resolve.nodes import (
    DateRef,
    FileRef,
    Interpolated,
    PathRef,
    PathSegment,
    StoreEntityRef,
    Template,
    Text,
)
from gpf_flow.store.base import Entity, EntityType, endpoints_of

DATE_FORMATS = {"date": "%d/%m/%Y", "time": "%H:%M", "datetime": "%d/%m/%Y %H:%M"}
RESOLVER_PAGE_LIMIT = 10  # the official SDK reads only the first page of 10


class MissingPath(LookupError):
    """A field path does not exist in a document."""


def read_path(document: Any, path: Sequence[PathSegment]) -> Any:
    """Follow keys and list indexes; ``MissingPath`` names the first segment that is absent."""
    current = document
    for i, segment in enumerate(path):
        try:
            if isinstance(segment, int):
                if not isinstance(current, list):
                    raise TypeError
                current = current[segment]
            else:
                if not isinstance(current, Mapping):
                    raise TypeError
                current = current[segment]
        except (KeyError, IndexError, TypeError):
            raise MissingPath(format_path(path[: i + 1])) from None
    return current


def format_path(path: Sequence[PathSegment]) -> str:
    """``a.b[0].c`` from segments."""
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else segment)
    return text


def as_text(value: Any) -> str:
    """How a resolved value is written inside a longer string: strings raw, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(value: Interpolated, ctx: ResolveContext) -> str:
    """Resolve an interpolated string into text."""
    return "".join(p.value if isinstance(p, Text) else as_text(resolve_template(p, ctx)) for p in value.parts)


def resolve_template(template: Template, ctx: ResolveContext) -> Any:
    """The JSON value of one template."""
    if isinstance(template, StoreEntityRef):
        return _store_entity(template, ctx)
    if isinstance(template, DateRef):
        return _datetime(template, ctx)
    if isinstance(template, FileRef):
        return _file(template, ctx)
    if isinstance(template, PathRef):
        return _path(template, ctx)
    raise WorkflowError(f"no resolver for {template.source}")  # pragma: no cover - parser guarantees


def _path(ref: PathRef, ctx: ResolveContext) -> Any:
    if ref.resolver == "params":
        key = ref.raw
        if key not in ctx.params:
            given = ", ".join(sorted(ctx.params)) or "none"
            raise WorkflowError(
                f"{ref.source}: parameter {key!r} was not given (given: {given})",
                hint=f"pass it with -p {key} VALUE",
            )
        return ctx.params[key]
    if ref.resolver == "user":
        document: Any = ctx.user(ref.source)
        where = "the user (/users/me)"
    elif ref.resolver in ctx.values:
        document = ctx.values[ref.resolver]
        where = f"the value of {ref.resolver}"
    else:
        raise WorkflowError(f"{ref.source}: unknown resolver {ref.resolver!r}")
    try:
        return read_path(document, ref.path)
    except MissingPath as exc:
        raise WorkflowError(f"{ref.source}: {where} has no field {exc.args[0]!r}") from None


def _datetime(ref: DateRef, ctx: ResolveContext) -> str:
    from dateutil.relativedelta import relativedelta

    moment = ctx.now()
    for unit, amount in ref.shifts:
        whole = int(amount)
        shift: dict[str, Any] = {unit: whole if unit in ("years", "months") or whole == amount else amount}
        moment += relativedelta(**shift)
    fmt = ref.fmt if ref.output == "strtime" else DATE_FORMATS[ref.output]
    return moment.strftime(fmt)


def _file(ref: FileRef, ctx: ResolveContext) -> Any:
    path = Path(ref.file).expanduser()
    if not path.is_absolute():
        path = (ctx.base_dir or Path.cwd()) / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowError(f"{ref.source}: cannot read {path}: {exc.strerror}") from None
    if ref.mode == "str":
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{ref.source}: {path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    expected = list if ref.mode == "list" else dict
    if not isinstance(value, expected):
        raise WorkflowError(f"{ref.source}: {path} holds a {type(value).__name__}, not a {ref.mode}")
    return value


# -- store_entity --------------------------------------------------------------------------------


def describe_query(entity_type: str, infos: Mapping[str, str], tags: Mapping[str, str]) -> str:
    """The request a query corresponds to, as the API would see it."""
    if entity_type == "endpoint":
        return f"GET /datastores/{{datastore}} (endpoints filtered on {dict(infos)})"
    if entity_type == "datastore":
        return f"GET /users/me (communities filtered on {dict(infos)})"
    query = urlencode(
        [*infos.items(), *((f"tags[{k}]", v) for k, v in tags.items()), ("page", 1), ("limit", 10)]
    )
    return f"GET {entity_type}?{query}"


def _endpoints(ctx: ResolveContext, source: str, infos: Mapping[str, str]) -> list[Entity]:
    endpoints = endpoints_of(ctx.require_store(source).get_datastore())
    return [e for e in endpoints if all(str(e.get(k)).lower() == str(v).lower() for k, v in infos.items())]


def _datastores(ctx: ResolveContext, source: str, infos: Mapping[str, str]) -> list[Entity]:
    found: list[Entity] = []
    for member in ctx.user(source).get("communities_member") or []:
        community = member.get("community") or {}
        if not community.get("datastore"):
            continue
        entity = {
            "_id": community["datastore"],
            "name": community.get("name"),
            "technical_name": community.get("technical_name"),
            "community": community,
        }
        ok = True
        for key, value in infos.items():
            if key == "name":
                ok &= str(value).lower() in (
                    str(entity["name"]).lower(),
                    str(entity["technical_name"]).lower(),
                )
            else:
                ok &= str(entity.get(key)).lower() == str(value).lower()
        if ok:
            found.append(entity)
    return found


def _label(entity: Mapping[str, Any]) -> str:
    name = entity.get("name") or entity.get("layer_name") or entity.get("technical_name") or ""
    return f"{entity.get('_id')} {name!r}" if name else str(entity.get("_id"))


def _store_entity(ref: StoreEntityRef, ctx: ResolveContext) -> Any:
    infos = {f.key: render(f.value, ctx) for f in ref.infos}
    tags = {f.key: render(f.value, ctx) for f in ref.tags}
    query = describe_query(ref.entity_type, infos, tags)
    ctx.queries.append(query)
    if ref.entity_type == "endpoint":
        items, total = _endpoints(ctx, ref.source, infos), None
    elif ref.entity_type == "datastore":
        items, total = _datastores(ctx, ref.source, infos), None
    else:
        page = ctx.require_store(ref.source).list_entities(
            EntityType(ref.entity_type), infos, tags, page=1, limit=RESOLVER_PAGE_LIMIT
        )
        items, total = page.items, page.total
    count = len(items) if total is None else total
    items = items[:RESOLVER_PAGE_LIMIT]
    if not items:
        if ctx.dry_run:
            ctx.pending.append(ref.source)
            return f"<pending: {ref.source}>"
        raise WorkflowError(
            f"cannot resolve {ref.source}: no {ref.entity_type} matches\n  query: {query}\n  matches: 0",
            hint=f"check the filters, or create the {ref.entity_type} first (did an earlier step run?)",
        )
    if ref.select != "ALL" and count > 1:  # no selector means ONE, as in the official SDK
        # the official SDK silently takes the first; acting on the wrong entity is worse than stopping
        listed = "\n".join(f"    {_label(item)}" for item in items)
        more = f"\n    ... and {count - len(items)} more" if count > len(items) else ""
        raise WorkflowError(
            f"cannot resolve {ref.source}: one {ref.entity_type} expected, {count} match\n"
            f"  query: {query}\n  matches:\n{listed}{more}",
            hint="narrow the filters (INFOS/TAGS) until one entity matches, or write ALL to use them all",
        )
    chosen = items if ref.select == "ALL" else items[:1]
    if ref.entity_type in ("endpoint", "datastore") or (ref.kind == "infos" and ref.path == ("_id",)):
        entities = chosen  # the listed items already hold what is asked: no GET per entity
    else:
        store = ctx.require_store(ref.source)
        entities = [store.get_entity(EntityType(ref.entity_type), e["_id"]) for e in chosen]
    if ref.kind == "entity":
        return entities if ref.select == "ALL" else entities[0]
    values: list[Any] = []
    for entity in entities:
        try:
            if ref.kind == "infos":
                values.append(read_path(entity, ref.path))
            else:
                values.append(read_path(entity.get("tags") or {}, ref.path))
        except MissingPath as exc:
            label = f"{ref.kind}.{exc.args[0]}"
            raise WorkflowError(
                f"cannot resolve {ref.source}: {ref.entity_type} {entity.get('_id')} "
                f"({entity.get('name', '')}) has no {label}\n  query: {query}\n  matches: {count}"
            ) from None
    if ref.select != "ALL":
        return values[0]
    if ref.kind == "tags":
        unique: list[Any] = []
        for value in values:
            if value not in unique:
                unique.append(value)
        return unique
    return values
