"""Typed, read-only views of the entity fields the engine decides on.

The seam returns entities as the API's JSON documents (:data:`~gpf_flow.store.base.Entity`),
which run records and messages keep as they are. Where the engine *reads* a field to decide
what to do (is the execution over, did the upload close, where is the offering published),
it reads it through one of these views instead of ``entity.get("status")``: a status is one of
the API's enum values (``None`` when absent or not one the API documents, with the raw text
kept for messages), and a missing field has one well-defined default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self, TypeVar

from gpf_flow.store.base import (
    EXECUTION_TERMINAL,
    Entity,
    EntityType,
    ExecutionStatus,
    OfferingStatus,
    StoredDataStatus,
    UploadStatus,
)

S = TypeVar("S", bound=StrEnum)


def _status(kind: type[S], value: object) -> S | None:
    try:
        return kind(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class EntityView:
    """What every entity has: its id, name and status as the API wrote them."""

    id: str
    name: str
    status_text: str
    """The raw ``status`` ("" when the entity has none): for messages and records."""

    @classmethod
    def of(cls, entity: Mapping[str, Any]) -> Self:
        """The view of one entity document."""
        return cls(**cls._fields(entity))

    @staticmethod
    def _fields(entity: Mapping[str, Any]) -> dict[str, Any]:
        status = entity.get("status")
        return {
            "id": str(entity.get("_id") or ""),
            "name": str(entity.get("name") or ""),
            "status_text": "" if status is None else str(status),
        }


@dataclass(frozen=True)
class ExecutionView(EntityView):
    """A processing execution: its status, processing and output."""

    status: ExecutionStatus | None
    processing_name: str
    output_type: EntityType | None
    """``stored_data`` or ``upload`` when the execution has an output."""
    output: Entity | None
    """The output entity as the execution document embeds it (has ``_id``)."""

    @staticmethod
    def _fields(entity: Mapping[str, Any]) -> dict[str, Any]:
        fields = EntityView._fields(entity)
        processing = entity.get("processing")
        output = entity.get("output")
        output_type: EntityType | None = None
        output_entity: Entity | None = None
        if isinstance(output, Mapping):
            for key in (EntityType.STORED_DATA, EntityType.UPLOAD):
                value = output.get(key)
                if isinstance(value, dict) and value.get("_id"):
                    output_type, output_entity = key, value
                    break
        fields.update(
            status=_status(ExecutionStatus, entity.get("status")),
            processing_name=str(processing.get("name") or "") if isinstance(processing, Mapping) else "",
            output_type=output_type,
            output=output_entity,
        )
        return fields

    @property
    def terminal(self) -> bool:
        """SUCCESS, FAILURE or ABORTED: the execution never changes by itself any more."""
        return self.status in EXECUTION_TERMINAL

    @property
    def succeeded(self) -> bool:
        """Ended in SUCCESS."""
        return self.status == ExecutionStatus.SUCCESS


@dataclass(frozen=True)
class UploadView(EntityView):
    """An upload: its name and status."""

    status: UploadStatus | None

    @staticmethod
    def _fields(entity: Mapping[str, Any]) -> dict[str, Any]:
        return {**EntityView._fields(entity), "status": _status(UploadStatus, entity.get("status"))}


@dataclass(frozen=True)
class StoredDataView(EntityView):
    """A stored data: its name and status."""

    status: StoredDataStatus | None

    @staticmethod
    def _fields(entity: Mapping[str, Any]) -> dict[str, Any]:
        return {**EntityView._fields(entity), "status": _status(StoredDataStatus, entity.get("status"))}


@dataclass(frozen=True)
class OfferingView(EntityView):
    """An offering: its status, layer name and the URLs it is served at."""

    status: OfferingStatus | None
    layer_name: str
    urls: tuple[Entity, ...]
    """``{"type", "url"}`` items, as the API gives them."""

    @staticmethod
    def _fields(entity: Mapping[str, Any]) -> dict[str, Any]:
        urls = entity.get("urls")
        return {
            **EntityView._fields(entity),
            "status": _status(OfferingStatus, entity.get("status")),
            "layer_name": str(entity.get("layer_name") or ""),
            "urls": tuple(u for u in urls if isinstance(u, dict)) if isinstance(urls, list) else (),
        }
