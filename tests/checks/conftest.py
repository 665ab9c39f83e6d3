"""Fixtures for the upload-check tests: real files generated here, and a CheckContext over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpf_flow.checks.base import CheckContext


class Ctx:
    """A check context over a folder, collecting the log lines."""

    def __init__(self, root: Path, upload_type: str, aborted: bool = False) -> None:
        self.lines: list[str] = []
        self.aborted = aborted
        files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and p.name not in ("upload_descriptor.jsonc", "style_zones.sld")
        )
        self.context = CheckContext(
            upload={"type": upload_type, "srs": "EPSG:2154", "name": "TEST"},
            root=root,
            files=[f for f in files if not (f.endswith(".md5") and "/" not in f)],
            md5_files=[f for f in files if f.endswith(".md5") and "/" not in f],
            log=self.lines.append,
            is_aborted=lambda: self.aborted,
        )

    @property
    def errors(self) -> list[str]:
        return [line for line in self.lines if "ERROR" in line]


@pytest.fixture
def make_ctx() -> Callable[..., Ctx]:
    def make(root: Path, upload_type: str, **kwargs: Any) -> Ctx:
        return Ctx(root, upload_type, **kwargs)

    return make


def _write_jpeg_strip_tiff(path: Path, size: int = 256, rows_per_strip: int = 16) -> Path:
    """A small JPEG-compressed RGB GeoTIFF in strips, with varied content."""
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    y, x = np.mgrid[0:size, 0:size]
    data = np.stack([(x * 3) % 256, (y * 5) % 256, ((x + y) * 2) % 256]).astype("uint8")
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.5, 0.0, 940000.0, 0.0, -0.5, 6537000.0),
        "compress": "JPEG",
        "photometric": "YCBCR",
        "blockysize": rows_per_strip,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _strip_layout(path: Path) -> tuple[list[int], list[int]]:
    """(StripOffsets, StripByteCounts) read with Pillow."""
    from PIL import Image

    with Image.open(path) as image:
        return list(image.tag_v2[273]), list(image.tag_v2[279])


@pytest.fixture
def jpeg_tiff() -> Callable[..., Path]:
    """Factory writing a JPEG-in-strips GeoTIFF: ``jpeg_tiff(path, size=256, rows_per_strip=16)``."""
    return _write_jpeg_strip_tiff


@pytest.fixture
def strip_layout() -> Callable[[Path], tuple[list[int], list[int]]]:
    """Function giving a TIFF's (StripOffsets, StripByteCounts)."""
    return _strip_layout
