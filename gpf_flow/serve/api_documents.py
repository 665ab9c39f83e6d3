"""The routes of the local store's documents (annexes, metadata, sharings) and of the user's
catalogs (communities, permissions, documents), mounted next to the entity routes of
:class:`gpf_flow.serve.api.RestApi`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from gpf_flow.serve.api_annexes import AnnexRoutes, public_annex_routes
from gpf_flow.serve.api_metadata import MetadataRoutes, public_metadata_routes
from gpf_flow.serve.api_sharings import SharingRoutes
from gpf_flow.serve.api_user import UserRoutes
from gpf_flow.store.base import Store

if TYPE_CHECKING:
    from gpf_flow.serve.api import RestApi


def documents_routes(api: RestApi, home: Path) -> list[BaseRoute]:
    """Every document route, relative to the ``/api`` mount (``home``: the store's folder)."""
    return [
        *AnnexRoutes(api, home).routes(),
        *MetadataRoutes(api, home).routes(),
        *SharingRoutes(api, home).routes(),
        *UserRoutes(api).routes(),
    ]


def public_document_routes(store: Store, home: Path) -> list[BaseRoute]:
    """The public (no token) routes of published annexes and metadata; none for a remote store."""
    if not (home / "config.json").exists():
        return []
    datastore = store.get_datastore()
    technical_name = str(datastore.get("technical_name") or store.datastore_id)
    return [
        *public_annex_routes(home, store.datastore_id, technical_name),
        *public_metadata_routes(home, store.datastore_id),
    ]
