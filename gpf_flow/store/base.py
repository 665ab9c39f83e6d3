"""The store seam: one interface shaped after the Géoplateforme Entrepôt API, two backends.

Why the cut is here: workflows, actions, resolving and delivery speak the Entrepôt's own
vocabulary (entity types, statuses, routes), and there are two ways to reach an Entrepôt (the
real one over HTTP, the embedded local one). So, as an HTTP client's transport, the seam is a
few methods over plain typed primitives: an :class:`EntityType`, an id, a JSON-like body, a
path; it returns the documents the API returns. Everything above it (what to create, when to
wait, how to resume) is ours and identical for both backends; everything below it (SQL,
worker processes, requests and retries) is the backend's own business.

The protocol has thirteen methods: the session (``close``, ``for_datastore``, ``local``), the two
documents outside any collection (``user_me``, ``get_datastore``), the five entity verbs
(``list_entities``, ``get_entity``, ``create_entity``, ``edit_entity``, ``delete_entity``), and
three verbs for what hangs off one entity: ``act`` (``POST {collection}/{id}/{action}``),
``logs`` and ``related`` (the sub-resources: tags, comments, upload files and checks, a
configuration's offerings, permissions, a key's accesses; see :data:`RELATIONS`). A new route of
the API is then a new :class:`Relation` or :class:`Action` value, not a new method every backend
must grow. The route-named operations callers want (``add_tags``, ``upload_push_file``,
``create_offering``...) are typed functions over these in :mod:`gpf_flow.store.ops`; both
backends map the three verbs onto their route-level methods through
:class:`gpf_flow.store.routes.RouteDispatch`.

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
    SYNCHRONIZE = "synchronize"


ACTIONS: dict[EntityType, tuple[Action, ...]] = {
    EntityType.UPLOAD: (Action.CLOSE, Action.OPEN),
    EntityType.PROCESSING_EXECUTION: (Action.LAUNCH, Action.ABORT),
    EntityType.OFFERING: (Action.SYNCHRONIZE,),
}
"""The actions each entity type has (``uploads/{id}/close``, ``processings/executions/{id}/launch``...;
an offering's ``synchronize`` is the API's ``PUT offerings/{id}`` without a body)."""


class Relation(StrEnum):
    """The sub-resources ``{collection}/{id}/{relation}`` reached through :meth:`Store.related`."""

    TAGS = "tags"
    COMMENTS = "comments"
    FILES = "files"
    CHECKS = "checks"
    OFFERINGS = "offerings"
    PERMISSIONS = "permissions"
    ACCESSES = "accesses"


RELATIONS: dict[Relation, str] = {
    Relation.TAGS: "taggable types; add: {key: value} merged, remove: keys; answers None",
    Relation.COMMENTS: "taggable types; read: the comments, add: a text (answers the comment), "
    "remove: a comment id",
    Relation.FILES: "upload; read: the tree (GET uploads/{id}/tree), add: a FilePush "
    "(…/data, or …/md5), remove: a pushed path",
    Relation.CHECKS: "upload; read: its UploadChecks",
    Relation.OFFERINGS: "configuration; read: its offerings, add: an offering body (answers the offering)",
    Relation.PERMISSIONS: "datastore; add: a permission body (POST permissions answers a list)",
    Relation.ACCESSES: "key; add: an access body (POST /users/me/keys/{key}/accesses)",
}
"""What each relation applies to, takes and answers."""


def no_relation(entity_type: str, relation: str) -> Exception:
    """The error for a sub-resource an entity type does not have, or an operation it lacks."""
    from gpf_flow.errors import BadRequestError

    return BadRequestError(
        f"{entity_type} has no {relation!r} sub-resource for this operation",
        hint="; ".join(f"{r}: {what}" for r, what in RELATIONS.items()),
    )


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


@dataclass(frozen=True)
class FilePush:
    """One file to send into an upload (``add`` of :attr:`Relation.FILES`): a data file lands
    under exactly ``remote_path``; an ``md5`` file lands at the root under its base name."""

    local_path: Path
    remote_path: str = ""
    md5: bool = False
    progress: ProgressCallback | None = None


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
    """What gpf-flow needs from an Entrepôt: entities, actions, logs and sub-resources (see the
    module docstring for why these thirteen; :mod:`gpf_flow.store.ops` builds on them)."""

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

    def create_entity(
        self, entity_type: EntityType, body: Mapping[str, Any], *, file: Path | None = None
    ) -> Entity:
        """``POST`` the body on the type's list route (uploads, configurations, processing
        executions, permissions, keys). A static is sent with its ``file`` (the body holds its
        ``name``, ``type`` and ``description``); an offering is created through its configuration
        (:meth:`related` with :attr:`Relation.OFFERINGS`)."""

    def edit_entity(
        self, entity_type: EntityType, entity_id: str, body: Mapping[str, Any], *, replace: bool = False
    ) -> Entity:
        """``PATCH`` (partial) or, with ``replace``, ``PUT`` (full) an entity; returns the new state."""

    def delete_entity(self, entity_type: EntityType, entity_id: str) -> None:
        """``DELETE`` an entity. On a PUBLISHED offering this only unpublishes it (API semantics)."""

    # -- actions, logs, sub-resources --------------------------------------------------------
    def act(self, entity_type: EntityType, entity_id: str, action: Action) -> None:
        """``POST {collection}/{id}/{action}``: close or re-open an upload (closing runs its
        checks), launch or abort a processing execution; ``synchronize`` an offering is the API's
        ``PUT offerings/{id}`` (see :data:`ACTIONS`)."""

    def logs(self, entity_type: EntityType, entity_id: str, start: int = 0) -> list[str]:
        """Log lines of a processing or check execution from line ``start`` (0-based): a
        follower passes how many it has."""

    def related(
        self,
        entity_type: EntityType,
        entity_id: str,
        relation: Relation,
        *,
        add: Any = None,
        remove: Any = None,
    ) -> Any:
        """Read (neither ``add`` nor ``remove``) or change one sub-resource of an entity,
        ``{collection}/{id}/{relation}`` (see :data:`RELATIONS` for what each one takes and
        answers). Typed wrappers live in :mod:`gpf_flow.store.ops`."""


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

    def run_notices(self, action_bodies: Sequence[Mapping[str, Any]]) -> list[str]:
        """What a run of these action bodies should be told before it starts about this machine
        (e.g. that PostgreSQL is missing for a vector integration); empty when nothing."""


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
