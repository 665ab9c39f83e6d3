"""The contract between the local store and its processings.

A processing is a plain function ``run(ctx: ProcessingContext) -> ProcessingResult`` that reads
its inputs from folders, writes its output into ``ctx.output_dir``, logs as it goes with
``ctx.log`` and calls ``ctx.check_abort()`` often (at least once a second of work). It knows
nothing about SQLite or HTTP: the local store's worker builds the context, runs the function in
a worker process and turns the result (or the exception) into statuses.

The catalog (:data:`PROCESSINGS`) gives the official names, stable ids, inputs, outputs and
parameters (docs/entrepot-api.md §9); ``run`` names the implementing function as
``"module:function"`` so that importing the catalog stays cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Ids are uuid5 of the official name in this namespace: stable across installs and machines.
_ID_NAMESPACE = uuid.UUID("6f0b1c3e-3a51-4a43-9d2e-6a3c1f0e2b7d")


def processing_id(name: str) -> str:
    """The stable id of a processing, derived from its official name."""
    return str(uuid.uuid5(_ID_NAMESPACE, name))


class ProcessingAborted(Exception):
    """Raised by :meth:`ProcessingContext.check_abort` when the execution was aborted."""


class ProcessingFailed(Exception):
    """Raised by a processing for bad input; the message becomes the last log line."""


@dataclass
class InputData:
    """One input of an execution: the entity as the API shows it and the folder holding its files."""

    entity: Mapping[str, Any]
    path: Path


@dataclass
class ProcessingContext:
    """Everything a processing may use."""

    parameters: Mapping[str, Any]
    uploads: list[InputData]
    stored_data: list[InputData]
    output_dir: Path
    """Empty folder that becomes the output stored data's files on success."""
    log: Callable[[str], None]
    """Append one log line (readable at once by followers)."""
    is_aborted: Callable[[], bool]
    output_entity: Mapping[str, Any] | None = None
    """The output stored data (for an update, it already holds data in ``output_dir``)."""
    workers: int = 1
    """Processes the processing may use for itself."""
    home: Path | None = None
    """The local store's home (its PostgreSQL cluster lives there); ``None`` outside a store."""

    def check_abort(self) -> None:
        """Raise :class:`ProcessingAborted` if an abort was asked."""
        if self.is_aborted():
            raise ProcessingAborted("execution aborted")


@dataclass
class ProcessingResult:
    """What the worker records on the output stored data."""

    type_infos: dict[str, Any] = field(default_factory=dict)
    srs: str | None = None
    extent: dict[str, Any] | None = None
    """GeoJSON geometry (EPSG:4326) of the data's footprint, as the API's ``extent``."""


@dataclass(frozen=True)
class ProcessingSpec:
    """One processing of the catalog."""

    name: str
    description: str
    input_upload_types: tuple[str, ...]
    input_stored_data_types: tuple[str, ...]
    output_type: str
    """Stored data type produced (``ROK4-PYRAMID-RASTER``, ``VECTOR-DB``, ``ARCHIVE``...)."""
    storage: str
    parameters: tuple[Mapping[str, Any], ...]
    run: str
    """``"module:function"`` implementing it."""

    @property
    def id(self) -> str:
        """The stable id (:func:`processing_id` of the official name)."""
        return processing_id(self.name)

    def as_entity(self) -> dict[str, Any]:
        """The processing as ``GET processings/{id}`` shows it."""
        return {
            "_id": self.id,
            "name": self.name,
            "description": self.description,
            "input_types": {
                "upload": list(self.input_upload_types),
                "stored_data": list(self.input_stored_data_types),
            },
            "output_type": {"stored_data": self.output_type, "storage": [self.storage]},
            "parameters": [dict(p) for p in self.parameters],
        }


def _param(name: str, description: str, mandatory: bool = False, default: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": description, "mandatory": mandatory}
    if default is not None:
        entry["default_value"] = default
    return entry


_RASTER_PARAMS = (
    _param("tms", "Tile matrix set: a platform grid (PM, LAMB93, 2154_5cm, 4326, WGS84G...)", default="PM"),
    _param("compression", "Tile encoding: jpg, jpg90, png or none (raw)", default="jpg"),
    _param("interpolation", "Resampling: nn, linear, bicubic or lanczos", default="bicubic"),
    _param("bottom_level", "Most detailed level (default: native resolution); alias `bottom`"),
    _param("top_level", "Least detailed level (default 0); alias `top`"),
    _param("mask", "true: JPEG pyramids record where they hold data (transparent elsewhere)"),
    _param("parallelization", "Accepted for compatibility; the local store uses its worker count"),
)

PROCESSINGS: tuple[ProcessingSpec, ...] = (
    ProcessingSpec(
        name="Calcul ou mise à jour de pyramide raster",
        description="Builds (or updates) a raster tile pyramid from a RASTER upload.",
        input_upload_types=("RASTER",),
        input_stored_data_types=("ROK4-PYRAMID-RASTER",),
        output_type="ROK4-PYRAMID-RASTER",
        storage="FILESYSTEM",
        parameters=_RASTER_PARAMS,
        run="gpf_flow.processings.raster_pyramid:run",
    ),
    ProcessingSpec(
        name="Calcul de pyramide raster",
        description="Builds a raster tile pyramid from a RASTER upload (joincache).",
        input_upload_types=("RASTER",),
        input_stored_data_types=(),
        output_type="ROK4-PYRAMID-RASTER",
        storage="FILESYSTEM",
        parameters=_RASTER_PARAMS,
        run="gpf_flow.processings.raster_pyramid:run",
    ),
    ProcessingSpec(
        name="Calcul ou mise à jour de pyramide raster par moissonnage WMS",
        description="Builds a raster tile pyramid by requesting a WMS over an area at harvest levels.",
        input_upload_types=(),
        input_stored_data_types=(),
        output_type="ROK4-PYRAMID-RASTER",
        storage="FILESYSTEM",
        parameters=(
            _param("harvest_url", "URL of the WMS to harvest", mandatory=True),
            _param("harvest_layers", "WMS layer(s) to request", mandatory=True),
            _param(
                "harvest_levels", "Levels to request from the WMS (the others are computed)", mandatory=True
            ),
            _param("harvest_area", "Area to harvest (WKT, lon/lat)", mandatory=True),
            _param("harvest_format", "Image format asked of the WMS", default="image/png"),
            _param("bottom", "Most detailed level (default: the finest harvest level)"),
            _param("samplesperpixel", "Accepted for compatibility; tiles are RGB"),
            _param("sampleformat", "Accepted for compatibility; tiles are 8-bit"),
            *(p for p in _RASTER_PARAMS if p["name"] in ("tms", "compression", "interpolation")),
        ),
        run="gpf_flow.processings.raster_harvest:run",
    ),
    ProcessingSpec(
        name="Fusion de pyramides raster",
        description="Merges raster pyramids of one grid into a new one (later inputs on top).",
        input_upload_types=(),
        input_stored_data_types=("ROK4-PYRAMID-RASTER",),
        output_type="ROK4-PYRAMID-RASTER",
        storage="FILESYSTEM",
        parameters=(),
        run="gpf_flow.processings.raster_fusion:run",
    ),
    ProcessingSpec(
        name="Intégration de données vecteur livrées en base",
        description="Loads the shapefiles, GeoPackages and CSV of a VECTOR upload into a database.",
        input_upload_types=("VECTOR",),
        input_stored_data_types=(),
        output_type="VECTOR-DB",
        storage="POSTGRESQL",
        parameters=(),
        run="gpf_flow.processings.vector_db:run",
    ),
    ProcessingSpec(
        name="Calcul ou mise à jour de pyramide vecteur",
        description="Builds a Mapbox Vector Tiles pyramid from a VECTOR-DB stored data.",
        input_upload_types=(),
        input_stored_data_types=("VECTOR-DB",),
        output_type="ROK4-PYRAMID-VECTOR",
        storage="FILESYSTEM",
        parameters=(
            _param("bottom_level", "Most detailed level", mandatory=True),
            _param("top_level", "Least detailed level", mandatory=True),
            _param("composition", "Per table: table, bottom_level, top_level, attributes"),
        ),
        run="gpf_flow.processings.vector_pyramid:run",
    ),
    ProcessingSpec(
        name="Recopie d'une archive livrée",
        description="Copies the files of an ARCHIVE upload into a downloadable stored data.",
        input_upload_types=("ARCHIVE",),
        input_stored_data_types=(),
        output_type="ARCHIVE",
        storage="FILESYSTEM",
        parameters=(),
        run="gpf_flow.processings.archive:run",
    ),
)
