"""The contract between the local store and its upload checks.

A check is a function ``run(ctx: CheckContext) -> bool`` (True = passed) that reads the files
of a closed upload and writes log lines (lines containing ``ERROR`` name what is wrong: the
file, and for rasters the failing block). The local store creates one check execution per
applicable check when an upload is closed and runs them in its worker pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpf_flow.processings.base import processing_id


@dataclass
class CheckContext:
    """What a check may use."""

    upload: Mapping[str, Any]
    """The upload entity (``type``, ``srs``, ...)."""
    root: Path
    """The upload's folder; files are under it at the paths they were pushed with."""
    files: list[str]
    """Relative paths of the data files (md5 files excluded)."""
    md5_files: list[str]
    """Relative paths of the md5 files at the root."""
    log: Callable[[str], None]
    is_aborted: Callable[[], bool]


@dataclass(frozen=True)
class CheckSpec:
    """One check of the catalog; ``upload_types`` empty means every type."""

    name: str
    description: str
    upload_types: tuple[str, ...]
    run: str
    """``"module:function"`` implementing it."""

    @property
    def id(self) -> str:
        """Stable across installs (derived from the name)."""
        return processing_id("check:" + self.name)

    def applies_to(self, upload_type: str) -> bool:
        """True if this check runs when an upload of this type is closed."""
        return not self.upload_types or upload_type in self.upload_types

    def as_entity(self) -> dict[str, Any]:
        """The check as ``GET /checks/{id}`` shows it."""
        return {"_id": self.id, "name": self.name, "description": self.description}


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        name="Vérification standard",
        description="Every file is listed in an md5 file and matches its checksum.",
        upload_types=(),
        run="gpf_flow.checks.md5_check:run",
    ),
    CheckSpec(
        name="Vérification raster",
        description="Every file opens as a raster and every block decodes.",
        upload_types=("RASTER",),
        run="gpf_flow.checks.raster_check:run",
    ),
    CheckSpec(
        name="Vérification vecteur",
        description="Every file opens as a vector layer and every geometry reads.",
        upload_types=("VECTOR",),
        run="gpf_flow.checks.vector_check:run",
    ),
    CheckSpec(
        name="Vérification archive",
        description="Every zip passes its CRC checks and holds no path escaping the archive.",
        upload_types=("ARCHIVE",),
        run="gpf_flow.checks.archive_check:run",
    ),
)
