"""Stores: the seam (:mod:`gpf_flow.store.base`) and the factory that picks a backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpf_flow.store.base import Store

LOCAL = "local"
"""The kind of the embedded store (``--store local``, the default)."""


def resolve_store(kind: str | None, config: str | Path | None = None) -> tuple[str, str]:
    """The store kind and where it comes from: ``--store``, ``GPF_FLOW_STORE``, the configuration
    file's ``store`` key, then the default ``local``."""
    from gpf_flow.config import resolve_store_kind

    if kind:
        return resolve_store_kind(kind), "--store"
    if os.environ.get("GPF_FLOW_STORE"):
        return resolve_store_kind(None), "env GPF_FLOW_STORE"
    from gpf_flow.store.geoplateforme.settings import configured_store

    found = configured_store(config)
    if found is not None:
        return resolve_store_kind(found[0]), f"config file {found[1]}"
    return LOCAL, "default"


def open_store(
    kind: str | None = None, *, home: str | Path | None = None, config: str | Path | None = None
) -> Store:
    """Open the store chosen by ``kind`` (flag, then ``GPF_FLOW_STORE``, then the configuration
    file's ``store`` key, then ``local``).

    ``home`` is the local store's folder; ``config`` the Géoplateforme configuration file.
    """
    from gpf_flow.config import resolve_home

    chosen, _source = resolve_store(kind, config)
    if chosen == LOCAL:
        from gpf_flow.store.local import LocalStore

        return LocalStore(resolve_home(home))
    from gpf_flow.store.geoplateforme import GeoplateformeStore

    return GeoplateformeStore.from_config(config)
