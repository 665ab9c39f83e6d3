"""``GeoplateformeStore``: the :class:`~gpf_flow.store.base.Store` interface over the Entrepôt REST API.

Each method is one route of the API (see docs/entrepot-api.md §4). Creates go through
:meth:`ApiClient.create`, which looks the entity up before repeating a request whose fate is
unknown, so a flaky network never leaves duplicates behind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError, StoreError
from gpf_flow.store.base import (
    COLLECTIONS,
    EXECUTION_TERMINAL,
    Entity,
    EntityType,
    Page,
    ProgressCallback,
    Store,
    UploadChecks,
    endpoints_of,
    flatten_tree,
)
from gpf_flow.store.geoplateforme.client import AmbiguousRequestError, ApiClient
from gpf_flow.store.geoplateforme.created import created_since
from gpf_flow.store.geoplateforme.multipart import MultipartFile
from gpf_flow.store.geoplateforme.paging import content_range_total, log_window
from gpf_flow.store.geoplateforme.settings import ConfigError, GpfSettings, load_settings
from gpf_flow.store.routes import RouteDispatch, static_args

log = logging.getLogger("gpf_flow.store.geoplateforme")

ENTITY_ID = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
LOG_PAGE_MAX = 2000
LIST_SNAPSHOT_LIMIT = 50


class GeoplateformeStore(RouteDispatch):
    """The Géoplateforme Entrepôt over HTTP, bound to one datastore."""

    kind = "geoplateforme"
    poll_interval = 5.0
    """Each look is an HTTP request: followers back off up to 5 s."""

    def __init__(
        self,
        settings: GpfSettings,
        *,
        datastore_id: str | None = None,
        client: ApiClient | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or ApiClient(settings)
        self._owns_client = client is None
        self.root_url = settings.root_url
        self.log_page_max = LOG_PAGE_MAX
        """Largest log page asked for (the API accepts up to 2000 lines per page at least)."""
        self._chosen = datastore_id if datastore_id is not None else settings.datastore
        self._datastore_id: str | None = (
            self._chosen if not self._chosen or ENTITY_ID.match(self._chosen) else None
        )

    @property
    def datastore_id(self) -> str:
        """The datastore's id; a datastore configured by name is looked up on first use."""
        if self._datastore_id is None:
            self._datastore_id = self._datastore_by_name(str(self._chosen))
        return self._datastore_id

    @datastore_id.setter
    def datastore_id(self, value: str) -> None:
        self._datastore_id = value

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> GeoplateformeStore:
        """The store described by a configuration file (None: ``GPF_FLOW_CONFIG``, then defaults)."""
        return cls(load_settings(path))

    # -- session ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connections (only those this store opened)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> GeoplateformeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def local(self) -> None:
        """A remote Entrepôt has no local capabilities."""
        return None

    def for_datastore(self, datastore_id: str) -> Store:
        """The same connection bound to another datastore (an id, or a name found in ``/users/me``)."""
        if datastore_id == self.datastore_id:
            return self
        view = GeoplateformeStore(self.settings, datastore_id=datastore_id, client=self.client)
        view.log_page_max = self.log_page_max
        return view

    # -- urls --------------------------------------------------------------------------------------
    @property
    def ds_url(self) -> str:
        """``{root_url}/datastores/{id}``."""
        if not self.datastore_id:
            raise ConfigError(
                "no datastore configured for the Géoplateforme store",
                hint="set [store_api] datastore in config.ini or GPF_FLOW_DATASTORE; "
                "`gpf-flow me` lists the datastores you can use",
            )
        return f"{self.root_url}/datastores/{self.datastore_id}"

    def _list_url(self, entity_type: str) -> str:
        if entity_type == "key":
            return f"{self.root_url}/users/me/keys"
        try:
            return f"{self.ds_url}/{COLLECTIONS[EntityType(entity_type)]}"
        except (KeyError, ValueError):
            known = [str(t) for t in (*COLLECTIONS, "key", "endpoint", "datastore")]
            raise BadRequestError(
                f"unknown entity type {entity_type!r}",
                hint=f"use one of: {', '.join(known)}",
            ) from None

    def _entity_url(self, entity_type: str, entity_id: str) -> str:
        return f"{self._list_url(entity_type)}/{entity_id}"

    # -- user and datastore ----------------------------------------------------------------------
    def user_me(self) -> Entity:
        """``GET /users/me``."""
        return dict(self.client.get_json(f"{self.root_url}/users/me"))

    def get_datastore(self) -> Entity:
        """``GET /datastores/{id}`` (with its endpoints)."""
        return dict(self.client.get_json(self.ds_url))

    def _datastores(self) -> list[Entity]:
        found: list[Entity] = []
        for member in self.user_me().get("communities_member") or []:
            community = member.get("community") or {}
            if not community.get("datastore"):
                continue
            found.append(
                {
                    "_id": community["datastore"],
                    "name": community.get("name", ""),
                    "technical_name": community.get("technical_name", ""),
                    "community": community,
                    "rights": member.get("rights"),
                }
            )
        return found

    def _datastore_by_name(self, name: str) -> str:
        for datastore in self._datastores():
            if name in (datastore["name"], datastore["technical_name"]):
                return str(datastore["_id"])
        raise NotFoundError(
            f"no datastore named {name!r} among those of your communities",
            hint="`gpf-flow me` lists your datastores with their ids",
        )

    # -- generic entity operations -----------------------------------------------------------------
    def list_entities(
        self,
        entity_type: str,
        infos: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        page: int = 1,
        limit: int = 10,
    ) -> Page:
        """One page of entities (``Content-Range`` gives the total)."""
        if entity_type in ("endpoint", "datastore"):
            return self._client_side_page(entity_type, infos or {}, page, limit)
        params: list[tuple[str, str | int | float]] = [(k, v) for k, v in (infos or {}).items()]
        params += [(f"tags[{k}]", v) for k, v in (tags or {}).items()]
        params += [("page", page), ("limit", limit)]
        response = self.client.request("GET", self._list_url(entity_type), params=params)
        items = response.json() if response.content else []
        if not isinstance(items, list):
            raise StoreError(
                f"the API listed {entity_type} as {type(items).__name__}, not an array", status=502
            )
        total = content_range_total(response.headers.get("Content-Range"))
        if total is None:
            total = (page - 1) * limit + len(items)
        return Page(items=items, total=total, page=page, limit=limit)

    def _client_side_page(self, entity_type: str, infos: Mapping[str, str], page: int, limit: int) -> Page:
        candidates = endpoints_of(self.get_datastore()) if entity_type == "endpoint" else self._datastores()

        def keep(entity: Entity) -> bool:
            for key, value in infos.items():
                wanted = str(value).lower()
                if entity_type == "datastore" and key == "name":
                    names = {str(entity.get("name")).lower(), str(entity.get("technical_name")).lower()}
                    if wanted not in names:
                        return False
                elif str(entity.get(key)).lower() != wanted:
                    return False
            return True

        matching = [e for e in candidates if keep(e)]
        start = (page - 1) * limit
        return Page(items=matching[start : start + limit], total=len(matching), page=page, limit=limit)

    def _all(self, entity_type: str, infos: Mapping[str, str] | None = None) -> list[Entity]:
        items: list[Entity] = []
        page = 1
        while True:
            result = self.list_entities(entity_type, infos, page=page, limit=LIST_SNAPSHOT_LIMIT)
            items.extend(result.items)
            if not result.items or not result.has_next:
                return items
            page += 1

    def get_entity(self, entity_type: str, entity_id: str) -> Entity:
        """One entity by id (``NotFoundError`` with the server's message if there is none)."""
        if entity_type == "endpoint":
            for endpoint in endpoints_of(self.get_datastore()):
                if endpoint.get("_id") == entity_id:
                    return dict(endpoint)
            raise NotFoundError(
                f"no endpoint {entity_id} in datastore {self.datastore_id}",
                hint="`gpf-flow entities endpoint` lists the datastore's endpoints",
            )
        if entity_type == "datastore":
            return dict(self.client.get_json(f"{self.root_url}/datastores/{entity_id}"))
        return dict(self.client.get_json(self._entity_url(entity_type, entity_id)))

    def create_entity(self, entity_type: str, body: Mapping[str, Any], *, file: Path | None = None) -> Entity:
        """``POST`` on the type's list route (a static with its ``file``); never duplicated by a retry."""
        if entity_type == "static":
            return self.create_static(*static_args(body, file))
        if entity_type == "processing_execution":
            return self.create_processing_execution(body)
        if entity_type == "permission":
            created = self.create_permissions(body)
            return created[0] if created else {}
        url = self._list_url(entity_type)
        infos = {"name": str(body["name"])} if isinstance(body.get("name"), str) else None
        new = self._new_since(entity_type, infos)

        def find() -> Entity | None:
            fresh = new()
            return fresh[0] if fresh else None

        return self.client.create(url, json=dict(body), find=find, parse=_entity)

    def _new_since(self, entity_type: str, infos: Mapping[str, str] | None) -> Callable[[], list[Entity]]:
        """A function listing the entities (matching ``infos``) created from now on: how a create
        whose answer was lost is found again. Nothing is requested until it is called."""
        mark = self.client.clock.mark()
        return lambda: created_since(self._all(entity_type, infos), mark)

    def edit_entity(
        self, entity_type: str, entity_id: str, body: Mapping[str, Any], *, replace: bool = False
    ) -> Entity:
        """``PATCH`` (or ``PUT`` with ``replace``) then the new state."""
        url = self._entity_url(entity_type, entity_id)
        response = self.client.request("PUT" if replace else "PATCH", url, json=dict(body))
        data = _maybe_json(response)
        if isinstance(data, dict) and data.get("_id"):
            return data
        return self.get_entity(entity_type, entity_id)

    def delete_entity(self, entity_type: str, entity_id: str) -> None:
        """``DELETE``; a repeat after a lost answer is avoided by checking what the first one did."""
        url = self._entity_url(entity_type, entity_id)
        before = self.get_entity(entity_type, entity_id).get("status") if entity_type == "offering" else None

        def done() -> bool:
            try:
                after = self.get_entity(entity_type, entity_id)
            except NotFoundError:
                return True
            return entity_type == "offering" and after.get("status") != before

        self._action("DELETE", url, done)

    def _action(self, method: str, url: str, done: Callable[[], bool]) -> httpx.Response | None:
        """A state-changing request without a created entity: on an unknown outcome, check ``done``."""
        attempts = self.settings.attempts
        for attempt in range(attempts + 1):
            try:
                return self.client.request(method, url, idempotent=False)
            except AmbiguousRequestError as exc:
                log.debug("ambiguous %s %s (%s); checking its effect", method, url, exc.message)
                self.client.pause(self.client.backoff.delay(attempt))
                if done():
                    return None
        raise StoreError(f"{method} {url} kept failing after {attempts + 1} attempts", status=503)

    # -- tags and comments -------------------------------------------------------------------------
    def add_tags(self, entity_type: str, entity_id: str, tags: Mapping[str, str]) -> None:
        """``POST …/tags`` (merge; safe to repeat)."""
        url = f"{self._entity_url(entity_type, entity_id)}/tags"
        self.client.request("POST", url, json=dict(tags), idempotent=True)

    def remove_tags(self, entity_type: str, entity_id: str, keys: Sequence[str]) -> None:
        """``DELETE …/tags?tags[]=k``."""
        if not keys:
            return
        url = f"{self._entity_url(entity_type, entity_id)}/tags"
        self.client.request("DELETE", url, params=[("tags[]", k) for k in keys])

    def list_comments(self, entity_type: str, entity_id: str) -> list[Entity]:
        """``GET …/comments``."""
        data = self.client.get_json(f"{self._entity_url(entity_type, entity_id)}/comments")
        return [c for c in (data or []) if c]

    def add_comment(self, entity_type: str, entity_id: str, text: str) -> Entity:
        """``POST …/comments``; never duplicated by a retry."""
        url = f"{self._entity_url(entity_type, entity_id)}/comments"
        mark = self.client.clock.mark()

        def find() -> Entity | None:
            listed = self.list_comments(entity_type, entity_id)
            fresh = [c for c in created_since(listed, mark) if c.get("text") == text]
            return fresh[-1] if fresh else None

        def parse(response: httpx.Response) -> Entity:
            data = _maybe_json(response)
            if isinstance(data, dict) and data.get("_id"):
                return data
            return find() or {"text": text}

        return self.client.create(url, json={"text": text}, find=find, parse=parse)

    def remove_comment(self, entity_type: str, entity_id: str, comment_id: str) -> None:
        """``DELETE …/comments/{id}``."""
        self.client.request("DELETE", f"{self._entity_url(entity_type, entity_id)}/comments/{comment_id}")

    # -- uploads -----------------------------------------------------------------------------------
    def upload_push_file(
        self,
        upload_id: str,
        local_path: Path,
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """``POST uploads/{id}/data?path=…`` (multipart, streamed with byte progress)."""
        url = f"{self._entity_url('upload', upload_id)}/data"
        self._push(upload_id, url, Path(local_path), remote_path, {"path": remote_path}, progress)

    def upload_push_md5(
        self, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
    ) -> None:
        """``POST uploads/{id}/md5`` (lands at the upload's root under its base name)."""
        local = Path(local_path)
        url = f"{self._entity_url('upload', upload_id)}/md5"
        self._push(upload_id, url, local, local.name, None, progress)

    def _push(
        self,
        upload_id: str,
        url: str,
        local: Path,
        remote_path: str,
        params: Mapping[str, str] | None,
        progress: ProgressCallback | None,
    ) -> None:
        body = MultipartFile(local, progress=progress)

        def find() -> bool | None:
            # A push whose answer was lost: complete if the tree holds the file with its size;
            # a partial file is removed so that the next attempt starts clean.
            size = flatten_tree(self.upload_tree(upload_id)).get(remote_path)
            if size == body.size:
                return True
            if size is not None:
                self.upload_delete_file(upload_id, remote_path)
            return None

        timeout = httpx.Timeout(self.settings.upload_timeout, connect=self.settings.connect_timeout)
        try:
            self.client.create(
                url,
                params=params,
                content=body.factory(),
                headers=body.headers,
                find=find,
                parse=lambda _response: True,
                timeout=timeout,
            )
        except ConflictError:
            # The API answers 409 when the file is already there: fine if it is complete.
            if find() is None:
                raise

    def upload_delete_file(self, upload_id: str, remote_path: str) -> None:
        """Remove a pushed file: root ``*.md5`` files through ``…/md5``, others through ``…/data``.

        Deleting a file that is not (or no longer) in the upload succeeds: the goal is reached.
        """
        route = "md5" if remote_path.endswith(".md5") and "/" not in remote_path else "data"
        url = f"{self._entity_url('upload', upload_id)}/{route}"
        try:
            self.client.request("DELETE", url, params={"path": remote_path})
        except NotFoundError:
            if remote_path in flatten_tree(self.upload_tree(upload_id)):
                raise

    def upload_tree(self, upload_id: str) -> list[Entity]:
        """``GET uploads/{id}/tree``: nested ``FILE``/``DIRECTORY`` nodes (see :func:`flatten_tree`)."""
        return list(self.client.get_json(f"{self._entity_url('upload', upload_id)}/tree") or [])

    def upload_close(self, upload_id: str) -> None:
        """``POST uploads/{id}/close``."""
        url = f"{self._entity_url('upload', upload_id)}/close"
        self._action("POST", url, lambda: self.get_entity("upload", upload_id).get("status") != "OPEN")

    def upload_open(self, upload_id: str) -> None:
        """``POST uploads/{id}/open``."""
        url = f"{self._entity_url('upload', upload_id)}/open"
        self._action("POST", url, lambda: self.get_entity("upload", upload_id).get("status") == "OPEN")

    def upload_checks(self, upload_id: str) -> UploadChecks:
        """``GET uploads/{id}/checks``."""
        data = self.client.get_json(f"{self._entity_url('upload', upload_id)}/checks") or {}
        return UploadChecks.from_dict(data)

    def check_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Check execution log lines from ``start``, fetching only the pages holding new lines."""
        return self._read_log(f"{self._entity_url('check_execution', execution_id)}/logs", start)

    # -- processings -------------------------------------------------------------------------------
    def create_processing_execution(self, body: Mapping[str, Any]) -> Entity:
        """``POST processings/executions``; never duplicated by a retry."""
        infos: dict[str, str] = {}
        if body.get("processing"):
            infos["processing"] = str(body["processing"])
        inputs = body.get("inputs") or {}
        for kind in ("upload", "stored_data"):
            first = (inputs.get(kind) or [None])[0]
            if first:
                infos[f"input_{kind}"] = str(first.get("_id") if isinstance(first, dict) else first)
                break
        new = self._new_since("processing_execution", infos)

        def find() -> Entity | None:
            fresh = new()
            return self.get_entity("processing_execution", fresh[0]["_id"]) if fresh else None

        url = self._list_url("processing_execution")
        return self.client.create(url, json=dict(body), find=find, parse=_entity)

    def launch_processing_execution(self, execution_id: str) -> None:
        """``POST processings/executions/{id}/launch``."""
        url = f"{self._entity_url('processing_execution', execution_id)}/launch"
        self._action("POST", url, lambda: self._execution_status(execution_id) != "CREATED")

    def abort_processing_execution(self, execution_id: str) -> None:
        """``POST processings/executions/{id}/abort``; an execution that already ended is left as is."""
        url = f"{self._entity_url('processing_execution', execution_id)}/abort"
        try:
            self._action("POST", url, lambda: self._execution_status(execution_id) in EXECUTION_TERMINAL)
        except (ConflictError, BadRequestError):
            if self._execution_status(execution_id) not in EXECUTION_TERMINAL:
                raise

    def _execution_status(self, execution_id: str) -> str:
        return str(self.get_entity("processing_execution", execution_id).get("status"))

    def processing_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Execution log lines from ``start``, fetching only the pages holding new lines."""
        return self._read_log(f"{self._entity_url('processing_execution', execution_id)}/logs", start)

    def _read_log(self, url: str, start: int) -> list[str]:
        lines: list[str] = []
        offset = max(0, start)
        while True:
            window = log_window(offset, max_limit=self.log_page_max, min_limit=min(20, self.log_page_max))
            response = self.client.request("GET", url, params={"page": window.page, "limit": window.limit})
            page_lines = _maybe_json(response) or []
            if not isinstance(page_lines, list):
                raise StoreError(
                    f"the API gave logs as {type(page_lines).__name__}, not an array", status=502
                )
            new = [str(line) for line in page_lines[window.skip :]]
            lines.extend(new)
            offset += len(new)
            total = content_range_total(response.headers.get("Content-Range"))
            more = offset < total if total is not None else len(page_lines) == window.limit
            if not new or not more:
                return lines

    # -- offerings ---------------------------------------------------------------------------------
    def create_offering(self, configuration_id: str, body: Mapping[str, Any]) -> Entity:
        """``POST configurations/{id}/offerings``; never duplicated by a retry."""
        mark = self.client.clock.mark()

        def find() -> Entity | None:
            for offering in created_since(self.list_configuration_offerings(configuration_id), mark):
                return self.get_entity("offering", str(offering["_id"]))
            return None

        url = f"{self._entity_url('configuration', configuration_id)}/offerings"
        return self.client.create(url, json=dict(body), find=find, parse=_entity)

    def list_configuration_offerings(self, configuration_id: str) -> list[Entity]:
        """``GET configurations/{id}/offerings``."""
        return list(
            self.client.get_json(f"{self._entity_url('configuration', configuration_id)}/offerings") or []
        )

    def synchronize_offering(self, offering_id: str) -> Entity:
        """``PUT offerings/{id}`` (no body), then the offering."""
        response = self.client.request("PUT", self._entity_url("offering", offering_id))
        data = _maybe_json(response)
        if isinstance(data, dict) and data.get("_id"):
            return data
        return self.get_entity("offering", offering_id)

    # -- statics, permissions, accesses ------------------------------------------------------------
    def create_static(
        self, local_path: Path, name: str, static_type: str, description: str | None = None
    ) -> Entity:
        """``POST statics?name=…&type=…&description=…`` with the file as the single multipart part."""
        body = MultipartFile(Path(local_path))
        new = self._new_since("static", {"name": name})

        def find() -> Entity | None:
            fresh = new()
            return fresh[0] if fresh else None

        params = {"name": name, "type": static_type, "description": description}
        return self.client.create(
            self._list_url("static"),
            params=params,
            content=body.factory(),
            headers=body.headers,
            find=find,
            parse=_entity,
        )

    def create_permissions(self, body: Mapping[str, Any]) -> list[Entity]:
        """``POST permissions`` (the API answers with a list); never duplicated by a retry."""
        new = self._new_since("permission", None)

        def find() -> list[Entity] | None:
            return new() or None

        def parse(response: httpx.Response) -> list[Entity]:
            data = _maybe_json(response)
            return list(data) if isinstance(data, list) else [data] if isinstance(data, dict) else []

        return self.client.create(self._list_url("permission"), json=dict(body), find=find, parse=parse)

    def create_access(self, key_id: str, body: Mapping[str, Any]) -> None:
        """``POST /users/me/keys/{key}/accesses``; never duplicated by a retry.

        After a lost answer, the key's ``accesses`` (when the API shows them) tell whether the
        access was created; a 409 is accepted when they show it exists.
        """
        url = f"{self.root_url}/users/me/keys/{key_id}/accesses"

        def accesses() -> list[Entity] | None:
            found = self.get_entity("key", key_id).get("accesses")
            return list(found) if isinstance(found, list) else None

        before = accesses()
        wanted = {str(o.get("_id") if isinstance(o, dict) else o) for o in body.get("offerings") or []}

        def find() -> bool | None:
            now = accesses()
            if now is None or before is None or len(now) <= len(before):
                return None
            for access in now[len(before) :]:
                offerings = {
                    str(o.get("_id") if isinstance(o, dict) else o) for o in access.get("offerings") or []
                }
                if offerings == wanted:
                    return True
            return None

        try:
            self.client.create(url, json=dict(body), find=find, parse=lambda _response: True)
        except ConflictError:
            if find() is None:
                raise


def _maybe_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _entity(response: httpx.Response) -> Entity:
    data = _maybe_json(response)
    if not isinstance(data, dict):
        raise StoreError(
            f"{response.request.method} {response.request.url} answered without a JSON object",
            status=502,
        )
    return data
