"""The embedded local Entrepôt: one folder with a SQLite database (WAL) and files.

``LocalStore(home)`` opens (and on first use creates) the home: ``config.json`` (user, local
account, public URL), ``store.sqlite`` (entities, tags, comments, events, logs), ``uploads/<id>/``
and ``stored_data/<id>/``. Processing and check executions run in worker processes started by the
dispatcher of the store that launched them (``gpf-flow run``/``upload`` while they wait,
``gpf-flow serve`` for HTTP clients).

Modules: ``store`` (the ``LocalStore`` facade) composed of ``uploads``, ``executions`` and
``publishing`` over ``core`` (shared reads and the per-home core); ``records`` holds all SQL on
the tables and the allowed status transitions, ``db`` the connection and schema; jobs run
through ``dispatcher`` (claims), ``spawn`` (worker processes), ``worker`` (the process itself),
``liveness`` (is a process there?) and ``recovery`` (ending jobs whose owner died).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpf_flow.store.local.store import LocalStore

__all__ = ["LocalStore"]


def __getattr__(name: str) -> Any:
    if name == "LocalStore":
        from gpf_flow.store.local.store import LocalStore

        return LocalStore
    raise AttributeError(name)
