"""Stores: the seam (:mod:`gpf_flow.store.base`) and the factory that picks a backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpf_flow.store.base import Store


def open_store(kind: str | None = None, *, home: str | Path | None = None, config: str | Path | None = None) -> Store:
    """Open the store chosen by ``kind`` (flag, then ``GPF_FLOW_STORE``, then ``local``).

    ``home`` is the local store's folder; ``config`` the Géoplateforme configuration file.
    """
    from gpf_flow.config import resolve_home, resolve_store_kind

    chosen = resolve_store_kind(kind)
    if chosen == "local":
        from gpf_flow.store.local import LocalStore

        return LocalStore(resolve_home(home))
    from gpf_flow.store.geoplateforme import GeoplateformeStore

    return GeoplateformeStore.from_config(config)
