"""Which offerings are published right now, with their configuration and stored data.

Every service asks :class:`PublishedIndex` on each request, so deleting or unpublishing an
offering stops its service at once. The lookup is cached and keyed on the store's
``change_counter()`` (it changes on every commit by any process).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpf_flow.errors import NotFoundError
from gpf_flow.store.base import Entity, EntityType, LocalCapabilities, OfferingStatus, iter_entities

# Offering / configuration types served here.
WMS_RASTER = "WMS-RASTER"
WMS_VECTOR = "WMS-VECTOR"
WMTS_TMS = "WMTS-TMS"
WFS = "WFS"
DOWNLOAD = "DOWNLOAD"


@dataclass(frozen=True)
class UsedData:
    """One ``type_infos.used_data[]`` entry of a configuration with its stored data."""

    spec: Mapping[str, Any]
    """The ``used_data`` entry as written in the configuration."""
    stored_data: Entity
    path: Path
    """The stored data's folder."""


@dataclass(frozen=True)
class PublishedLayer:
    """One published offering, ready to serve."""

    offering: Entity
    configuration: Entity
    used_data: tuple[UsedData, ...]

    @property
    def offering_id(self) -> str:
        """The offering's id."""
        return str(self.offering["_id"])

    @property
    def type(self) -> str:
        """The configuration type (``WMS-RASTER``, ``WFS``...)."""
        return str(self.configuration.get("type") or self.offering.get("type") or "")

    @property
    def layer_name(self) -> str:
        """The public layer name."""
        return str(self.configuration.get("layer_name") or self.offering.get("layer_name") or "")

    @property
    def type_infos(self) -> Mapping[str, Any]:
        """The configuration's ``type_infos``."""
        infos = self.configuration.get("type_infos") or {}
        return infos if isinstance(infos, Mapping) else {}

    @property
    def title(self) -> str:
        """Title for capabilities (``type_infos.title``, else the name)."""
        return str(self.type_infos.get("title") or self.configuration.get("name") or self.layer_name)

    @property
    def abstract(self) -> str:
        """Abstract for capabilities."""
        return str(self.type_infos.get("abstract") or "")

    @property
    def keywords(self) -> list[str]:
        """Keywords for capabilities."""
        words = self.type_infos.get("keywords") or []
        return [str(w) for w in words] if isinstance(words, list) else []


@dataclass
class Published:
    """A snapshot of the published layers, by offering id and by (type, layer name)."""

    by_id: dict[str, PublishedLayer] = field(default_factory=dict)
    by_type: dict[str, dict[str, PublishedLayer]] = field(default_factory=dict)

    def layers(self, kind: str) -> dict[str, PublishedLayer]:
        """Layers of one configuration type, by layer name."""
        return self.by_type.get(kind, {})

    def add(self, layer: PublishedLayer) -> None:
        """Index one layer."""
        self.by_id[layer.offering_id] = layer
        self.by_type.setdefault(layer.type, {})[layer.layer_name] = layer


class PublishedIndex:
    """Looks up the published offerings of a store (thread-safe, cached on a change counter)."""

    def __init__(self, store: LocalCapabilities) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: object = None
        self._snapshot: Published | None = None

    def snapshot(self) -> Published:
        """The published layers as of now."""
        key = self.store.change_counter()
        with self._lock:
            if self._snapshot is not None and key == self._key:
                return self._snapshot
        snap = self._build()
        with self._lock:
            self._key, self._snapshot = key, snap
        return snap

    def _build(self) -> Published:
        snap = Published()
        for offering in iter_entities(
            self.store, EntityType.OFFERING, {"status": OfferingStatus.PUBLISHED}, limit=100
        ):
            if offering.get("status") != OfferingStatus.PUBLISHED:
                continue
            layer = self._layer(offering)
            if layer is not None:
                snap.add(layer)
        return snap

    def _layer(self, offering: Entity) -> PublishedLayer | None:
        conf_ref = offering.get("configuration") or {}
        conf_id = conf_ref.get("_id") if isinstance(conf_ref, Mapping) else conf_ref
        if not conf_id:
            return None
        try:
            configuration = self.store.get_entity(EntityType.CONFIGURATION, str(conf_id))
            used: list[UsedData] = []
            for spec in (configuration.get("type_infos") or {}).get("used_data") or []:
                sd_id = spec.get("stored_data") if isinstance(spec, Mapping) else None
                if not sd_id:
                    continue
                stored = self.store.get_entity(EntityType.STORED_DATA, str(sd_id))
                used.append(
                    UsedData(spec=spec, stored_data=stored, path=self.store.stored_data_dir(str(sd_id)))
                )
        except NotFoundError:
            # Deleted between the listing and now: not served.
            return None
        return PublishedLayer(offering=offering, configuration=configuration, used_data=tuple(used))
