"""Response bodies as the Entrepôt API publishes them (its DTOs), from the store's entities.

The store keeps what gpf-flow needs; the API's DTOs require more on every body: ``update`` next
to ``creation``, references (``processing``, ``upload``, ``endpoint``...) carrying their own
dates, ``contact``/``open``/``bbox`` on uploads and stored data, the extent as a GeoJSON
``Feature``, event initiators, comment authors... :class:`DtoShaper` adds these from facts the
store holds (the referenced entities, the user, the datastore), never from invented values. It
runs on the server's way out (:class:`DtoMiddleware`), so the store and the engine stay as they
are and every JSON body of ``/api`` goes through it.

Dates of what exists since the home was made (catalog processings and checks, endpoints, the
user, the community, the datastore) are the home's creation date.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gpf_flow.errors import StoreError
from gpf_flow.store.base import EntityType, Store

Lookup = Callable[[str, str], "dict[str, Any] | None"]

# URL collection under /datastores/{ds} → entity type (the longer paths first).
_COLLECTIONS: tuple[tuple[str, str], ...] = (
    ("processings/executions", "processing_execution"),
    ("checks/executions", "check_execution"),
    ("uploads", "upload"),
    ("stored_data", "stored_data"),
    ("processings", "processing"),
    ("configurations", "configuration"),
    ("offerings", "offering"),
    ("statics", "static"),
    ("permissions", "permission"),
    ("checks", "check"),
)
_DS_PATH = re.compile(r"^/datastores/(?P<ds>[^/]+)(?:/(?P<rest>.*))?$")
# Keys of nested references → the entity type to read their dates from.
_REF_TYPES = {
    "processing": "processing",
    "check": "check",
    "upload": "upload",
    "stored_data": "stored_data",
    "configuration": "configuration",
}
_CATALOG_REFS = ("endpoint", "community", "author", "initiator", "supervisor", "user")
_COMPRESSION = {"image/jpeg": "JPG", "image/png": "PNG", "image/tiff": "RAW"}
_CHANNELS = {"image/jpeg": 3, "image/png": 4}
_PREVIEW = "PREVIEW"


def iso_from_timestamp(seconds: float) -> str:
    """A POSIX time as the API writes dates."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def home_epoch(home: Path) -> str:
    """The home's creation date: when its settings file was written."""
    try:
        return iso_from_timestamp((home / "config.json").stat().st_mtime)
    except OSError:
        return iso_from_timestamp(0)


def _bbox(entity: Mapping[str, Any]) -> dict[str, float] | None:
    """The entity's ``BoundingBox`` from ``type_infos.bbox`` or its extent."""
    box = (
        (entity.get("type_infos") or {}).get("bbox")
        if isinstance(entity.get("type_infos"), Mapping)
        else None
    )
    if isinstance(box, list) and len(box) == 4:
        west, south, east, north = (float(v) for v in box)
        return {"west": west, "south": south, "east": east, "north": north}
    geometry = _geometry(entity.get("extent"))
    if geometry is not None:
        from shapely.geometry import shape

        west, south, east, north = shape(geometry).bounds
        return {"west": west, "south": south, "east": east, "north": north}
    return None


def _geometry(extent: Any) -> dict[str, Any] | None:
    if not isinstance(extent, Mapping):
        return None
    if extent.get("type") == "Feature":
        geometry = extent.get("geometry")
        return dict(geometry) if isinstance(geometry, Mapping) else None
    return dict(extent) if "coordinates" in extent else None


def as_feature(extent: Any) -> Any:
    """The extent as the API gives it: a GeoJSON ``Feature`` (a bare geometry is wrapped)."""
    geometry = _geometry(extent)
    if geometry is None or (isinstance(extent, Mapping) and extent.get("type") == "Feature"):
        return extent
    return {"type": "Feature", "geometry": geometry, "properties": {}}


class DtoShaper:
    """Adds what the DTOs require to the bodies of one request (lookups cached per request)."""

    def __init__(
        self,
        view: Store,
        epoch: str,
        user: Mapping[str, Any],
        datastore: Mapping[str, Any],
        home: Path | None = None,
    ) -> None:
        self.view = view
        self.home = home
        self.epoch = epoch
        self.user = user
        self.datastore = datastore
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    # -- references ---------------------------------------------------------------------------
    def lookup(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        key = (entity_type, entity_id)
        if key not in self._cache:
            try:
                self._cache[key] = dict(self.view.get_entity(EntityType(entity_type), entity_id))
            except (StoreError, ValueError):  # gone, or a type the store does not hold
                self._cache[key] = None
        return self._cache[key]

    def author(self) -> dict[str, Any]:
        """The user as an ``AuthorResponseDto``/``UserDto``."""
        return {
            "_id": self.user.get("_id"),
            "first_name": self.user.get("first_name") or "",
            "last_name": self.user.get("last_name") or "",
            "email": self.user.get("email") or "",
            "creation": self.epoch,
            "update": self.epoch,
        }

    def dated(self, entity: dict[str, Any]) -> dict[str, Any]:
        """``creation`` and ``update`` on a top-level entity (``update``: its last event)."""
        if not entity.get("creation"):
            entity["creation"] = self.epoch
        if "update" not in entity:
            last = entity.get("last_event")
            entity["update"] = (
                last.get("date") if isinstance(last, Mapping) and last.get("date") else entity["creation"]
            )
        return entity

    def reference(self, key: str, ref: dict[str, Any]) -> dict[str, Any]:
        """A nested reference completed from the entity it names."""
        if "creation" in ref and "update" in ref:
            return ref
        entity_type = _REF_TYPES.get(key)
        found = self.lookup(entity_type, str(ref.get("_id"))) if entity_type and ref.get("_id") else None
        if found is not None:
            self.dated(found)
            for field in ("creation", "update", "srs", "type", "name", "status"):
                if field not in ref and field in found:
                    ref[field] = found[field]
        ref.setdefault("creation", self.epoch)
        ref.setdefault("update", ref["creation"])
        if key == "supervisor":
            ref.update({k: v for k, v in self.author().items() if k not in ref})
        return ref

    def references(self, entity: dict[str, Any]) -> None:
        for key, value in list(entity.items()):
            if key in _REF_TYPES or key in _CATALOG_REFS:
                if isinstance(value, dict) and "_id" in value:
                    entity[key] = self.reference(key, value)
                elif isinstance(value, list):
                    entity[key] = [self.reference(key, v) if isinstance(v, dict) else v for v in value]
        for key in ("inputs", "output"):
            if isinstance(entity.get(key), dict):
                self.references(entity[key])

    # -- entity kinds -------------------------------------------------------------------------
    def entity(self, entity_type: str, entity: dict[str, Any]) -> dict[str, Any]:
        """One entity of ``entity_type`` as its DTO publishes it."""
        self.dated(entity)
        self.references(entity)
        if entity_type in ("upload", "stored_data"):
            entity.setdefault("contact", self.user.get("email") or "")
            entity.setdefault("open", False)
            entity.setdefault("description", "")
            box = _bbox(entity)
            if box is not None:
                entity.setdefault("bbox", box)
        if entity_type == "stored_data":
            entity.setdefault("edition", {})
            entity.setdefault("public_activity", False)
            if "extent" in entity:
                entity["extent"] = as_feature(entity["extent"])
            self._pyramid_infos(entity)
        if entity_type in ("processing", "check"):
            entity.setdefault("priority", "STANDARD")
            entity.setdefault("description", entity.get("name", ""))
            if entity_type == "processing":
                entity["required_checks"] = [
                    self.reference("check", {"_id": c} if isinstance(c, str) else dict(c))
                    for c in entity.get("required_checks") or []
                ]
        if entity_type == "check_execution" and isinstance(entity.get("upload"), dict):
            entity["upload"] = self.reference("upload", entity["upload"])
        if entity_type == "static" and entity.get("type") == "GEOSERVER-STYLE":
            self._style_infos(entity)
        if entity_type == "static" and entity.get("type") == "ROK4-STYLE":
            self._rok4_style_infos(entity)
        if entity_type == "offering":
            entity.setdefault("public_activity", False)
            self._urls(entity)
        return entity

    def _style_infos(self, entity: dict[str, Any]) -> None:
        """``used_attributes`` of an SLD style: the attributes its rules and symbolizers name."""
        infos = entity.setdefault("type_infos", {})
        if not isinstance(infos, dict) or "used_attributes" in infos:
            return
        if self.home is None or not entity.get("file_name"):
            return
        from lxml import etree

        local = self.view.local()
        if local is None:
            return
        try:
            path = local.static_file(str(entity["_id"]))
            root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        except (OSError, etree.XMLSyntaxError, StoreError):
            return
        names = [str(e.text).strip() for e in root.iter("{*}PropertyName") if e.text and e.text.strip()]
        infos["used_attributes"] = list(dict.fromkeys(names))

    def _rok4_style_infos(self, entity: dict[str, Any]) -> None:
        """``StaticFileRok4StyleDetailsDto``: the style's identifier and its own legend's URL."""
        infos = entity.setdefault("type_infos", {})
        local = self.view.local() if self.home is not None and entity.get("file_name") else None
        if not isinstance(infos, dict) or "identifier" in infos or local is None:
            return
        from gpf_flow.raster_style.model import StyleError, parse_style

        try:
            style = parse_style(local.static_file(str(entity["_id"])).read_bytes())
        except (OSError, StyleError, StoreError):
            return
        infos["identifier"] = style.identifier
        if style.legend is not None:
            infos["legend_url"] = style.legend.url

    def _pyramid_infos(self, entity: dict[str, Any]) -> None:
        infos = entity.get("type_infos")
        if entity.get("type") != "ROK4-PYRAMID-RASTER" or not isinstance(infos, dict):
            return
        mime = str(infos.get("format") or "")
        if mime in _COMPRESSION:
            infos.setdefault("compression", _COMPRESSION[mime])
            infos.setdefault("channels_format", "UINT8")
            infos.setdefault("channels_number", _CHANNELS.get(mime, 3))
            # our pyramids keep no nodata value: empty tiles are simply absent
            infos.setdefault("nodata_value", "")

    @staticmethod
    def _urls(entity: dict[str, Any]) -> None:
        """The preview page is ours, not an ``EndpointUrlTypeEnum``: it moves to ``extra.preview``."""
        urls = entity.get("urls")
        if not isinstance(urls, list):
            return
        preview = [u for u in urls if isinstance(u, Mapping) and u.get("type") == _PREVIEW]
        if preview:
            entity["urls"] = [u for u in urls if u not in preview]
            extra = entity.get("extra")
            entity["extra"] = {**(extra if isinstance(extra, dict) else {}), "preview": preview[0]["url"]}

    def comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        self.dated(comment)
        author = comment.get("author")
        comment["author"] = {
            **self.author(),
            **(author if isinstance(author, dict) else {}),
            "creation": self.epoch,
            "update": self.epoch,
        }
        comment["author"].pop("email", None)
        return comment

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        author = self.author()
        author.pop("email", None)
        event.setdefault("initiator", author)
        return event

    # -- user and datastore -------------------------------------------------------------------
    def user_me(self, body: dict[str, Any]) -> dict[str, Any]:
        self.dated(body)
        for member in body.get("communities_member") or []:
            community = member.get("community")
            if isinstance(community, dict):
                self.dated(community)
                community.setdefault("contact", self.user.get("email") or "")
                community.setdefault("supervisor", self.user.get("_id"))
        return body

    def community(self, body: dict[str, Any]) -> dict[str, Any]:
        self.dated(body)
        if isinstance(body.get("datastore"), str):
            body["datastore"] = {
                "_id": body["datastore"],
                "active": True,
                "creation": self.epoch,
                "update": self.epoch,
            }
        if isinstance(body.get("supervisor"), dict):
            body["supervisor"] = self.reference("supervisor", dict(body["supervisor"]))
        return body

    def storage(self, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        storage_type = str(item.get("type") or "FILESYSTEM")
        item.setdefault(
            "storage",
            {
                "_id": str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL, f"gpf-flow:{self.datastore.get('_id')}:{kind}:{storage_type}"
                    )
                ),
                "name": f"{kind} ({storage_type.lower()})",
                "type": storage_type,
                "labels": [kind.upper()],
                "creation": self.epoch,
                "update": self.epoch,
            },
        )
        item.setdefault("use", 0)
        item.setdefault("quota", 0)
        return item

    def endpoint_usage(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        """An endpoint as a ``DatastoreEndpointStandardResponseDto``: with the datastore's use and quota."""
        for entry in self.view.get_datastore().get("endpoints") or []:
            if (entry.get("endpoint") or {}).get("_id") == endpoint.get("_id"):
                return {"use": entry.get("use", 0), "quota": entry.get("quota", 0), "endpoint": endpoint}
        return {"use": 0, "quota": 0, "endpoint": endpoint}

    def endpoint_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        if isinstance(entry.get("endpoint"), dict):
            self.reference("endpoint", entry["endpoint"])
        return entry

    def datastore_doc(self, body: dict[str, Any]) -> dict[str, Any]:
        self.dated(body)
        body.setdefault(
            "community",
            {"_id": self.user.get("community_id") or body["_id"], "contact": self.user.get("email") or ""},
        )
        community = body["community"]
        if isinstance(community, dict):
            community.setdefault("creation", self.epoch)
            community.setdefault("update", self.epoch)
            community.setdefault("contact", self.user.get("email") or "")
            community.setdefault("public", False)
        storages = body.setdefault("storages", {})
        storages["data"] = [self.storage("data", dict(s)) for s in storages.get("data") or []]
        storages["uploads"] = self.storage("uploads", dict(storages.get("uploads") or {}))
        storages["annexes"] = self.storage("annexes", dict(storages.get("annexes") or {}))
        body["endpoints"] = [self.endpoint_entry(dict(e)) for e in body.get("endpoints") or []]
        return body


def _route_kind(path: str) -> tuple[str, str | None]:
    """What a GET path under ``/api`` answers: (kind, entity type)."""
    if path == "/users/me":
        return "user", None
    if path == "/users/me/keys" or re.fullmatch(r"/users/me/keys/[^/]+", path):
        return ("list" if path.endswith("/keys") else "one"), "key"
    if path == "/catalogs/communities":
        return "communities", None
    if path.startswith("/communities/"):
        return ("community_users" if path.endswith("/users") else "community"), None
    match = _DS_PATH.match(path)
    if match is None:
        return "other", None
    rest = (match.group("rest") or "").strip("/")
    if not rest:
        return "datastore", None
    if rest == "endpoints":
        return "endpoints", None
    for collection, entity_type in _COLLECTIONS:
        if rest == collection:
            return "list", entity_type
        if rest.startswith(collection + "/"):
            tail = rest[len(collection) + 1 :].split("/")
            if collection == "processings" and tail[0] == "executions":
                continue
            if collection == "checks" and tail[0] == "executions":
                continue
            if len(tail) == 1:
                return "one", entity_type
            if tail[1] == "comments" and len(tail) == 2:
                return "comments", entity_type
            if tail[1] == "comments":
                return "comment", entity_type
            if tail[1] == "events":
                return "events", entity_type
            if tail[1] == "offerings" and entity_type == "configuration":
                return "list", "offering"
            if tail[1] == "checks" and entity_type == "upload":
                return "upload_checks", None
            return "other", None
    return "other", None


def shape_body(shaper: DtoShaper, path: str, body: Any) -> Any:
    """The body of the ``/api`` route ``path`` (relative to the mount) with its DTO's fields."""
    kind, entity_type = _route_kind(path)
    if kind == "user" and isinstance(body, dict):
        return shaper.user_me(body)
    if kind == "communities" and isinstance(body, list):
        return [shaper.community(c) for c in body if isinstance(c, dict)]
    if kind == "community" and isinstance(body, dict):
        return shaper.community(body)
    if kind == "community_users" and isinstance(body, list):
        return [{**shaper.dated(dict(m)), "user": {**shaper.author(), **(m.get("user") or {})}} for m in body]
    if kind == "datastore" and isinstance(body, dict):
        return shaper.datastore_doc(body)
    if kind == "endpoints" and isinstance(body, list):
        return [shaper.endpoint_entry(e if "endpoint" in e else shaper.endpoint_usage(e)) for e in body]
    if kind == "list" and entity_type and isinstance(body, list):
        return [shaper.entity(entity_type, e) if isinstance(e, dict) else e for e in body]
    if kind == "one" and entity_type and isinstance(body, dict):
        return shaper.entity(entity_type, body)
    if kind == "comments" and isinstance(body, list):
        return [shaper.comment(c) for c in body if isinstance(c, dict)]
    if kind == "comment" and isinstance(body, dict):
        return shaper.comment(body)
    if kind == "events" and isinstance(body, list):
        return [shaper.event(e) for e in body if isinstance(e, dict)]
    if kind == "upload_checks" and isinstance(body, dict):
        return {
            k: [shaper.entity("check_execution", e) for e in v]
            for k, v in body.items()
            if isinstance(v, list)
        }
    return body


class DtoMiddleware:
    """ASGI middleware of the ``/api`` mount: JSON bodies of successful answers get their DTO's fields.

    ``view_of(datastore)`` gives the store view of a datastore id (``None``: the default one).
    """

    def __init__(self, app: ASGIApp, *, store: Store, home: Path) -> None:
        self.app = app
        self.store = store
        self.home = home
        self.epoch = home_epoch(home)

    def _shaper(self, path: str) -> DtoShaper:
        view = self.store
        match = _DS_PATH.match(path)
        if match is not None and match.group("ds") != self.store.datastore_id:
            try:
                view = self.store.for_datastore(match.group("ds"))
            except StoreError:
                view = self.store
        user = dict(self.store.user_me())
        communities = [m.get("community") or {} for m in user.get("communities_member") or []]
        user["community_id"] = next((c.get("_id") for c in communities if c.get("_id")), None)
        return DtoShaper(view, self.epoch, user, {"_id": view.datastore_id}, self.home)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "POST", "PATCH", "PUT"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                headers = dict(message.get("headers") or [])
                json_ok = message["status"] in (200, 201) and headers.get(b"content-type", b"").startswith(
                    b"application/json"
                )
                start["_shape"] = json_ok
                if not json_ok:
                    await send(message)
                return
            if message["type"] == "http.response.body" and start.get("_shape"):
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await self._send_shaped(path, start, b"".join(chunks), send)
                return
            await send(message)

        await self.app(scope, receive, capture)

    async def _send_shaped(self, path: str, start: dict[str, Any], raw: bytes, send: Send) -> None:
        from starlette.concurrency import run_in_threadpool

        try:
            body = json.loads(raw)
            shaped = await run_in_threadpool(lambda: shape_body(self._shaper(path), path, body))
            out = json.dumps(shaped, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (ValueError, StoreError):
            out = raw
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": out})


def tms_entry(name: str) -> dict[str, Any]:
    """One item of ``GET /statics/tms`` (``TileMatrixSetListDto``): id and SRS."""
    return {"_id": name, "srs": tms_srs(name)}


def tms_srs(name: str) -> str:
    """The SRS of a tile matrix set, as ``EPSG:code`` when it has one."""
    from pyproj import CRS

    from gpf_flow import tms as grids

    crs = CRS.from_user_input(grids.get(name).rasterio_crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def tms_detail(document: dict[str, Any]) -> dict[str, Any]:
    """``GET /statics/tms/{id}`` (``TileMatrixSetDetailResponseDto``): the OGC document plus
    ``srs`` and ``levels`` (one per tile matrix: id and resolution in CRS units per pixel)."""
    name = str(document["_id"])
    document["srs"] = tms_srs(name)
    document["levels"] = [
        {"id": str(m["id"]), "resolution": float(m["cellSize"])} for m in document.get("tileMatrices") or []
    ]
    return document
