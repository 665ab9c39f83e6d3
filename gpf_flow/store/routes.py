"""How both backends map the seam's generic primitives (``act``, ``logs``, ``related``) onto their
route-level methods (``upload_close``, ``add_tags``, ``create_offering``...).

The two backends expose the same route-level methods (one per API route: the HTTP store sends
exactly that request, the local store does what the server does); :class:`RouteDispatch` is the
one table from the protocol's few verbs to them, so neither backend repeats it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.errors import BadRequestError
from gpf_flow.store.base import (
    Entity,
    EntityType,
    FilePush,
    ProgressCallback,
    Relation,
    UploadChecks,
    no_logs,
    no_relation,
    unknown_action,
)


class RouteDispatch(ABC):
    """Mixin: ``act``, ``logs`` and ``related`` of :class:`~gpf_flow.store.base.Store` over the
    route-level methods a backend defines."""

    # The route-level methods each backend provides.
    @abstractmethod
    def upload_close(self, upload_id: str) -> None: ...
    @abstractmethod
    def upload_open(self, upload_id: str) -> None: ...
    @abstractmethod
    def launch_processing_execution(self, execution_id: str) -> None: ...
    @abstractmethod
    def abort_processing_execution(self, execution_id: str) -> None: ...
    @abstractmethod
    def synchronize_offering(self, offering_id: str) -> Entity: ...
    @abstractmethod
    def processing_execution_logs(self, execution_id: str, start: int = 0) -> list[str]: ...
    @abstractmethod
    def check_execution_logs(self, execution_id: str, start: int = 0) -> list[str]: ...
    @abstractmethod
    def add_tags(self, entity_type: str, entity_id: str, tags: Mapping[str, str]) -> None: ...
    @abstractmethod
    def remove_tags(self, entity_type: str, entity_id: str, keys: Sequence[str]) -> None: ...
    @abstractmethod
    def list_comments(self, entity_type: str, entity_id: str) -> list[Entity]: ...
    @abstractmethod
    def add_comment(self, entity_type: str, entity_id: str, text: str) -> Entity: ...
    @abstractmethod
    def remove_comment(self, entity_type: str, entity_id: str, comment_id: str) -> None: ...
    @abstractmethod
    def upload_tree(self, upload_id: str) -> list[Entity]: ...
    @abstractmethod
    def upload_checks(self, upload_id: str) -> UploadChecks: ...
    @abstractmethod
    def upload_delete_file(self, upload_id: str, remote_path: str) -> None: ...
    @abstractmethod
    def upload_push_file(
        self, upload_id: str, local_path: Path, remote_path: str, progress: ProgressCallback | None = None
    ) -> None: ...
    @abstractmethod
    def upload_push_md5(
        self, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
    ) -> None: ...
    @abstractmethod
    def create_offering(self, configuration_id: str, body: Mapping[str, Any]) -> Entity: ...
    @abstractmethod
    def list_configuration_offerings(self, configuration_id: str) -> list[Entity]: ...
    @abstractmethod
    def create_permissions(self, body: Mapping[str, Any]) -> list[Entity]: ...
    @abstractmethod
    def create_access(self, key_id: str, body: Mapping[str, Any]) -> None: ...

    def act(self, entity_type: str, entity_id: str, action: str) -> None:
        """``POST {collection}/{id}/{action}`` (see :data:`~gpf_flow.store.base.ACTIONS`)."""
        routes = {
            ("upload", "close"): self.upload_close,
            ("upload", "open"): self.upload_open,
            ("processing_execution", "launch"): self.launch_processing_execution,
            ("processing_execution", "abort"): self.abort_processing_execution,
            ("offering", "synchronize"): self.synchronize_offering,
        }
        route = routes.get((str(entity_type), str(action)))
        if route is None:
            raise unknown_action(entity_type, action)
        route(entity_id)

    def logs(self, entity_type: str, entity_id: str, start: int = 0) -> list[str]:
        """Log lines of a processing or check execution from 0-based line ``start``."""
        if entity_type == EntityType.PROCESSING_EXECUTION:
            return self.processing_execution_logs(entity_id, start)
        if entity_type == EntityType.CHECK_EXECUTION:
            return self.check_execution_logs(entity_id, start)
        raise no_logs(entity_type)

    def related(
        self, entity_type: str, entity_id: str, relation: str, *, add: Any = None, remove: Any = None
    ) -> Any:
        """Read or change ``{collection}/{id}/{relation}`` (see :data:`~gpf_flow.store.base.RELATIONS`)."""
        kind, rel = str(entity_type), str(relation)
        reading = add is None and remove is None
        if rel == Relation.TAGS and not reading:
            if add is not None:
                self.add_tags(kind, entity_id, add)
            if remove is not None:
                self.remove_tags(kind, entity_id, list(remove))
            return None
        if rel == Relation.COMMENTS:
            if reading:
                return self.list_comments(kind, entity_id)
            if add is not None:
                return self.add_comment(kind, entity_id, add)
            self.remove_comment(kind, entity_id, str(remove))
            return None
        if kind == EntityType.UPLOAD and rel == Relation.FILES:
            if reading:
                return self.upload_tree(entity_id)
            if add is not None:
                if not isinstance(add, FilePush):
                    raise BadRequestError("files are added to an upload as a FilePush")
                if add.md5:
                    self.upload_push_md5(entity_id, add.local_path, add.progress)
                else:
                    self.upload_push_file(entity_id, add.local_path, add.remote_path, add.progress)
            if remove is not None:
                self.upload_delete_file(entity_id, str(remove))
            return None
        if kind == EntityType.UPLOAD and rel == Relation.CHECKS and reading:
            return self.upload_checks(entity_id)
        if kind == EntityType.CONFIGURATION and rel == Relation.OFFERINGS and remove is None:
            if reading:
                return self.list_configuration_offerings(entity_id)
            return self.create_offering(entity_id, add)
        if kind == EntityType.DATASTORE and rel == Relation.PERMISSIONS and add is not None:
            return self.create_permissions(add)
        if kind == EntityType.KEY and rel == Relation.ACCESSES and add is not None:
            self.create_access(entity_id, add)
            return None
        raise no_relation(kind, rel)


def static_args(body: Mapping[str, Any], file: Path | None) -> tuple[Path, str, str, str | None]:
    """``create_static``'s arguments from ``create_entity("static", body, file=...)``."""
    if file is None or not body.get("name") or not body.get("type"):
        raise BadRequestError(
            "a static is created with its file, a name and a type",
            hint='create_entity("static", {"name": ..., "type": ...}, file=path)',
        )
    description = body.get("description")
    return Path(file), str(body["name"]), str(body["type"]), None if description is None else str(description)
