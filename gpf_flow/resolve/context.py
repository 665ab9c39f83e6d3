"""What templates are resolved against: the store, ``-p`` parameters, the workflow folder, the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpf_flow.errors import WorkflowError

if TYPE_CHECKING:
    from gpf_flow.store.base import Entity, Store


@dataclass
class _UserCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    user: Entity | None = None


@dataclass
class ResolveContext:
    """Everything a template may read. One per run; :meth:`for_action` derives one per action."""

    store: Store | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None
    """Folder of the workflow file (``files`` resolver paths are relative to it)."""
    dry_run: bool = False
    """Templates on entities that do not exist yet become ``<pending: ...>`` instead of failing."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Extra documents read with ``{<name>.<path>}`` (``iter_resolve_0``...)."""
    now: Callable[[], datetime] = datetime.now
    pending: list[str] = field(default_factory=list)
    """Templates left pending in dry-run mode."""
    queries: list[str] = field(default_factory=list)
    """Store queries made while resolving (shown in errors and recorded in the run state)."""
    _user: _UserCache = field(default_factory=_UserCache)

    def for_action(self, store: Store | None = None) -> ResolveContext:
        """A context for one action (optionally on another datastore), sharing the user cache."""
        return replace(self, store=store or self.store, pending=[], queries=[])

    def require_store(self, source: str) -> Store:
        """The store, or an error naming the template ``source`` that needs one."""
        if self.store is None:
            raise WorkflowError(f"{source} needs a store to be resolved")
        return self.store

    def user(self, source: str) -> Entity:
        """``/users/me``, fetched once per run."""
        with self._user.lock:
            if self._user.user is None:
                self._user.user = self.require_store(source).user_me()
                self.queries.append("GET /users/me")
            return self._user.user
