"""The store seam: one interface shaped after the Géoplateforme Entrepôt API, two backends.

Why the cut is here: workflows, actions, resolving and delivery speak the Entrepôt's own
vocabulary (entity types, statuses, routes), and there are two ways to reach an Entrepôt (the
real one over HTTP, the embedded local one). So, as an HTTP client's transport, the seam is a
few methods over plain typed primitives: an :class:`EntityType`, an id, a JSON-like body, a
path; it returns the documents the API returns. Everything above it (what to create, when to
wait, how to resume) is ours and identical for both backends; everything below it (SQL,
worker processes, requests and retries) is the backend's own business.

Entities are plain JSON-like dicts with the API's own field names (``_id``, ``name``, ``status``,
``type``, ``tags``, ``type_infos``...), so the HTTP backend returns what the server sends and the
local backend returns what the server would send. ``gpf_flow.store.local.LocalStore`` is the
embedded default; ``gpf_flow.store.geoplateforme.GeoplateformeStore`` talks to the real API.

What only the embedded store can do (its folder, files, events, workers...) is a second,
explicit protocol, :class:`LocalCapabilities`, that a store hands out through
:meth:`Store.local`; nothing outside :mod:`gpf_flow.store` probes a store for extras.

A store is bound to one datastore; :meth:`Store.for_datastore` gives a view on another one.
Errors are the classes of :mod:`gpf_flow.errors` (``NotFoundError`` for an unknown id,
``ConflictError`` for a state conflict, ``BadRequestError`` for a bad body).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

Entity = dict[str, Any]
"""One entity as the API gives it."""


class EntityType(StrEnum):
    """The entity types of the Entrepôt, named as the API's DTOs (``processing_execution``...)."""

    UPLOAD = "upload"
    STORED_DATA = "stored_data"
    PROCESSING = "processing"
    PROCESSING_EXECUTION = "processing_execution"
    CONFIGURATION = "configuration"
    OFFERING = "offering"
    STATIC = "static"
    ENDPOINT = "endpoint"
    DATASTORE = "datastore"
    PERMISSION = "permission"
    KEY = "key"
    CHECK = "check"
    CHECK_EXECUTION = "check_execution"


ENTITY_TYPES: tuple[str, ...] = tuple(t.value for t in EntityType)
"""Every entity type name, in declaration order (messages, CLI completion)."""


def as_entity_type(value: object) -> EntityType:
    """``value`` (a name from a workflow, a URL or a command line) as an :class:`EntityType`;
    ``BadRequestError`` naming the known types otherwise."""
    try:
        return EntityType(str(value))
    except ValueError:
        from gpf_flow.errors import BadRequestError

        raise BadRequestError(
            f"unknown entity type {value!r}", hint=f"use one of: {', '.join(ENTITY_TYPES)}"
        ) from None


COLLECTIONS: dict[EntityType, str] = {
    EntityType.UPLOAD: "uploads",
    EntityType.STORED_DATA: "stored_data",
    EntityType.PROCESSING: "processings",
    EntityType.PROCESSING_EXECUTION: "processings/executions",
    EntityType.CONFIGURATION: "configurations",
    EntityType.OFFERING: "offerings",
    EntityType.STATIC: "statics",
    EntityType.PERMISSION: "permissions",
    EntityType.CHECK: "checks",
    EntityType.CHECK_EXECUTION: "checks/executions",
}
"""The URL collection of each entity type under ``/datastores/{id}`` (the one table of them).
``key`` lives under ``/users/me/keys``; ``endpoint`` and ``datastore`` are read from the datastore
document."""

# Entities that carry tags and comments (sub-routes .../tags and .../comments in the API).
TAGGABLE_TYPES: tuple[EntityType, ...] = (
    EntityType.UPLOAD,
    EntityType.STORED_DATA,
    EntityType.CONFIGURATION,
    EntityType.STATIC,
)


class UploadStatus(StrEnum):
    """``upload.status``."""

    CREATED = "CREATED"
    OPEN = "OPEN"
    CHECKING = "CHECKING"
    CLOSED = "CLOSED"
    UNSTABLE = "UNSTABLE"
    GENERATING = "GENERATING"
    MODIFYING = "MODIFYING"
    DELETED = "DELETED"


class ExecutionStatus(StrEnum):
    """``processing_execution.status`` (check executions use the same words, see CheckStatus)."""

    CREATED = "CREATED"
    WAITING = "WAITING"
    PROGRESS = "PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"


class CheckStatus(StrEnum):
    """``check_execution.status``."""

    WAITING = "WAITING"
    PROGRESS = "PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class StoredDataStatus(StrEnum):
    """``stored_data.status``."""

    CREATED = "CREATED"
    GENERATING = "GENERATING"
    MODIFYING = "MODIFYING"
    GENERATED = "GENERATED"
    UNSTABLE = "UNSTABLE"
    DELETED = "DELETED"


class OfferingStatus(StrEnum):
    """``offering.status`` (a configuration is PUBLISHED or UNPUBLISHED)."""

    PUBLISHING = "PUBLISHING"
    MODIFYING = "MODIFYING"
    PUBLISHED = "PUBLISHED"
    UNPUBLISHING = "UNPUBLISHING"
    UNPUBLISHED = "UNPUBLISHED"
    UNSTABLE = "UNSTABLE"


class Action(StrEnum):
    """The state changes a client asks for with ``POST {collection}/{id}/{action}``."""

    CLOSE = "close"
    OPEN = "open"
    LAUNCH = "launch"
    ABORT = "abort"


ACTIONS: dict[EntityType, tuple[Action, ...]] = {
    EntityType.UPLOAD: (Action.CLOSE, Action.OPEN),
    EntityType.PROCESSING_EXECUTION: (Action.LAUNCH, Action.ABORT),
}
"""The actions each entity type has (``uploads/{id}/close``, ``processings/executions/{id}/launch``...)."""

LOGGED_TYPES: tuple[EntityType, ...] = (EntityType.PROCESSING_EXECUTION, EntityType.CHECK_EXECUTION)
"""The entity types with ``GET {collection}/{id}/logs``."""


def unknown_action(entity_type: str, action: str) -> Exception:
    """The error for an action an entity type does not have."""
    from gpf_flow.errors import BadRequestError

    known = ", ".join(f"{t} {'/'.join(a)}" for t, a in ACTIONS.items())
    return BadRequestError(f"{entity_type} has no action {action!r}", hint=f"actions: {known}")


def no_logs(entity_type: str) -> Exception:
    """The error for logs asked of an entity type that has none."""
    from gpf_flow.errors import BadRequestError

    return BadRequestError(f"{entity_type} has no logs", hint=f"logs exist on: {', '.join(LOGGED_TYPES)}")


EXECUTION_TERMINAL: frozenset[str] = frozenset(
    {ExecutionStatus.SUCCESS, ExecutionStatus.FAILURE, ExecutionStatus.ABORTED}
)
"""The statuses an execution never leaves by itself."""

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes sent since the previous call."""


@dataclass
class Page:
    """One page of a listing: the items and the total number of entities matching the filters."""

    items: list[Entity]
    total: int
    page: int = 1
    limit: int = 10

    @property
    def has_next(self) -> bool:
        return self.page * self.limit < self.total


@dataclass
class UploadChecks:
    """The ``GET uploads/{id}/checks`` document: check executions grouped by state."""

    asked: list[Entity] = field(default_factory=list)
    in_progress: list[Entity] = field(default_factory=list)
    passed: list[Entity] = field(default_factory=list)
    failed: list[Entity] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.asked and not self.in_progress

    def as_dict(self) -> dict[str, list[Entity]]:
        return {
            "asked": self.asked,
            "in_progress": self.in_progress,
            "passed": self.passed,
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadChecks:
        return cls(
            asked=list(data.get("asked") or []),
            in_progress=list(data.get("in_progress") or []),
            passed=list(data.get("passed") or []),
            failed=list(data.get("failed") or []),
        )


@runtime_checkable
class Store(Protocol):
    """What gpf-flow needs from an Entrepôt. Method names follow the API's routes."""

    kind: str
    """``"local"`` or ``"geoplateforme"``: a label for run records and messages, never a switch."""

    datastore_id: str
    """The datastore this store is bound to."""

    poll_interval: float
    """How often (seconds, at most) a follower should look at a running entity again: a local
    SQLite read is cheap, an HTTP request is not."""

    # -- session ------------------------------------------------------------------------------
    def close(self) -> None:
        """Release connections, worker pools and files."""

    def __enter__(self) -> Self:
        """``with open_store() as store:`` closes the store at the end."""

    def __exit__(self, *exc: object) -> None:
        """Close the store."""

    def for_datastore(self, datastore_id: str) -> Store:
        """The same store bound to another datastore (``datastore`` keys of workflows)."""

    def local(self) -> LocalCapabilities | None:
        """What this store can do beyond the API when it is the embedded one (its folder, files,
        workers...); None for a remote Entrepôt. The one way to reach those extras."""

    # -- user and datastore -------------------------------------------------------------------
    def user_me(self) -> Entity:
        """``GET /users/me``: ``_id``, ``email``, ``first_name``, ``last_name``, ``communities_member``."""

    def get_datastore(self) -> Entity:
        """``GET /datastores/{id}``, with ``endpoints[]`` as ``{"endpoint": {...}, "quota", "use"}``."""

    # -- generic entity operations ------------------------------------------------------------
    def list_entities(
        self,
        entity_type: EntityType,
        infos: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        page: int = 1,
        limit: int = 10,
    ) -> Page:
        """One page of entities matching every ``infos`` filter (``%`` wildcards in ``name``) and
        every ``tags`` filter. Pages start at 1; results are in creation order."""

    def get_entity(self, entity_type: EntityType, entity_id: str) -> Entity:
        """One entity by id; ``NotFoundError`` if there is none."""

    def create_entity(self, entity_type: EntityType, body: Mapping[str, Any]) -> Entity:
        """``POST`` the body on the type's list route (uploads, configurations, permissions, keys)."""

    def edit_entity(
        self, entity_type: EntityType, entity_id: str, body: Mapping[str, Any], *, replace: bool = False
    ) -> Entity:
        """``PATCH`` (partial) or, with ``replace``, ``PUT`` (full) an entity; returns the new state."""

    def delete_entity(self, entity_type: EntityType, entity_id: str) -> None:
        """``DELETE`` an entity. On a PUBLISHED offering this only unpublishes it (API semantics)."""

    # -- tags and comments --------------------------------------------------------------------
    def add_tags(self, entity_type: EntityType, entity_id: str, tags: Mapping[str, str]) -> None:
        """Merge tags into the entity's tags."""

    def remove_tags(self, entity_type: EntityType, entity_id: str, keys: Sequence[str]) -> None:
        """Remove tags by key."""

    def list_comments(self, entity_type: EntityType, entity_id: str) -> list[Entity]:
        """Comments as ``{"_id", "text", ...}``."""

    def add_comment(self, entity_type: EntityType, entity_id: str, text: str) -> Entity:
        """Add one comment."""

    def remove_comment(self, entity_type: EntityType, entity_id: str, comment_id: str) -> None:
        """Remove one comment by id."""

    # -- uploads ------------------------------------------------------------------------------
    def upload_push_file(
        self,
        upload_id: str,
        local_path: Path,
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Send one data file; it appears in the tree under exactly ``remote_path``."""

    def upload_push_md5(
        self, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
    ) -> None:
        """Send an md5 file; it lands at the upload's root under its base name."""

    def upload_delete_file(self, upload_id: str, remote_path: str) -> None:
        """Remove a pushed file (data or md5)."""

    def upload_tree(self, upload_id: str) -> list[Entity]:
        """``[{"type": "FILE"|"DIRECTORY", "name", "size", "children"?}]``."""

    def upload_checks(self, upload_id: str) -> UploadChecks:
        """The upload's check executions grouped by state."""

    # -- actions and logs -----------------------------------------------------------------------
    def act(self, entity_type: EntityType, entity_id: str, action: Action) -> None:
        """``POST {collection}/{id}/{action}``: close or re-open an upload (closing runs its
        checks), launch or abort a processing execution (see :data:`ACTIONS`)."""

    def logs(self, entity_type: EntityType, entity_id: str, start: int = 0) -> list[str]:
        """Log lines of a processing or check execution from line ``start`` (0-based): a
        follower passes how many it has."""

    # -- offerings ----------------------------------------------------------------------------
    def create_offering(self, configuration_id: str, body: Mapping[str, Any]) -> Entity:
        """Publish a configuration on an endpoint (``{"endpoint", "open", ...}``); has ``urls``."""

    def list_configuration_offerings(self, configuration_id: str) -> list[Entity]:
        """``GET configurations/{id}/offerings``."""

    def synchronize_offering(self, offering_id: str) -> Entity:
        """``PUT offerings/{id}``: re-synchronise an offering with its data."""

    # -- statics, permissions, accesses -------------------------------------------------------
    def create_static(
        self, local_path: Path, name: str, static_type: str, description: str | None = None
    ) -> Entity:
        """Send a static file (an SLD style...) with its metadata."""

    def create_permissions(self, body: Mapping[str, Any]) -> list[Entity]:
        """``POST permissions``: the API answers with a list."""

    def create_access(self, key_id: str, body: Mapping[str, Any]) -> None:
        """``POST /users/me/keys/{key}/accesses``."""


class LocalCapabilities(Store, Protocol):
    """A store that is the embedded Entrepôt: the API, plus what ``gpf-flow serve`` and the run
    state need from a store that lives in a folder of this machine.

    ``gpf_flow.serve`` is typed on this protocol, so what it needs beyond the API is listed here
    rather than probed for; :meth:`Store.local` hands it out.
    """

    @property
    def home(self) -> Path:
        """The store's folder (``runs.sqlite`` lives next to it)."""

    @property
    def public_url(self) -> str:
        """Base URL of the services (offerings' ``urls``)."""

    @property
    def config(self) -> dict[str, Any]:
        """The home's settings: user, local accounts, public URL, token lifetime."""

    def for_datastore(self, datastore_id: str) -> LocalCapabilities:
        """The same store bound to another datastore."""

    def stored_data_dir(self, stored_data_id: str) -> Path:
        """The folder holding a stored data's files (``NotFoundError`` for an unknown id)."""

    def static_file(self, static_id: str) -> Path:
        """The file of a static (``NotFoundError`` for an unknown id)."""

    def events(self, entity_id: str) -> list[Entity]:
        """``GET …/{id}/events``: the entity's history, oldest first."""

    def change_counter(self) -> object:
        """A value that changes whenever any process commits a change to the store (caches)."""

    def start_workers(self) -> None:
        """Run the jobs launched through this process (and adopt orphans) in worker processes."""

    def upload_run_checks(self, upload_id: str, check_ids: Sequence[str]) -> None:
        """``POST uploads/{id}/checks``: run these checks again on a CLOSED or UNSTABLE upload."""

    def replace_static_file(self, static_id: str, local_path: Path) -> Entity:
        """``PUT statics/{id}``: replace a static's file; returns the static."""

    def edit_comment(self, entity_type: EntityType, entity_id: str, comment_id: str, text: str) -> Entity:
        """``PUT …/comments/{comment}``: replace a comment's text; returns the comment."""

    def delete_access(self, key_id: str, access_id: str) -> None:
        """``DELETE /users/me/keys/{key}/accesses/{access}``: withdraw one access of a key."""


def iter_entities(
    store: Store,
    entity_type: EntityType,
    infos: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    limit: int = 50,
) -> Iterator[Entity]:
    """Every entity matching the filters, page after page."""
    page = 1
    while True:
        result = store.list_entities(entity_type, infos, tags, page=page, limit=limit)
        yield from result.items
        if not result.items or not result.has_next:
            return
        page += 1


def endpoints_of(datastore: Entity) -> list[Entity]:
    """The inner ``endpoint`` objects of a datastore document."""
    return [item["endpoint"] for item in datastore.get("endpoints", []) if item.get("endpoint")]


def flatten_tree(nodes: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, int]:
    """``{"dir/sub/file": size}`` for every file of an upload tree (``GET uploads/{id}/tree``):
    the paths files were pushed with, as resuming an upload compares them."""
    files: dict[str, int] = {}
    for node in nodes:
        path = f"{prefix}{node.get('name', '')}"
        if str(node.get("type", "")).upper() == "DIRECTORY":
            files.update(flatten_tree(node.get("children") or [], f"{path}/"))
        else:
            files[path] = int(node.get("size") or 0)
    return files
