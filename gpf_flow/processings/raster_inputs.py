"""Reading a RASTER upload: find its rasters, check them, and mosaic them into VRTs (one per CRS)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError

from gpf_flow.processings.base import ProcessingFailed

RASTER_SUFFIXES = frozenset(
    {".tif", ".tiff", ".jp2", ".png", ".jpg", ".jpeg", ".vrt", ".img", ".asc", ".bil"}
)


@dataclass(frozen=True)
class RasterFile:
    """One checked input raster."""

    path: Path
    crs: CRS
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    color_bands: tuple[int, ...]
    """1-based indexes of the colour bands (1 for grey, 3 for RGB); the mask comes from GDAL."""
    nodata: float | None

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units."""
        left, bottom, right, top = self.bounds
        return (right - left) / self.width, (top - bottom) / self.height


@dataclass(frozen=True)
class SourceGroup:
    """Rasters sharing one CRS, mosaicked into one VRT whose last band is the alpha (validity) band."""

    crs: CRS
    vrt: Path
    files: tuple[RasterFile, ...]
    bounds: tuple[float, float, float, float]
    color_bands: int

    @property
    def alpha_band(self) -> int:
        """Index of the VRT's alpha band (after the colour bands)."""
        return self.color_bands + 1


def find_rasters(folders: Iterable[Path]) -> list[Path]:
    """Raster files under the folders (by extension), sorted; md5 and sidecar files are skipped."""
    found: list[Path] = []
    for folder in folders:
        found.extend(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    return sorted(found)


def inspect_raster(path: Path, declared_srs: str | None, log: Callable[[str], None]) -> RasterFile:
    """Open one raster and check it can be tiled; the message of a failure names the file."""
    try:
        with rasterio.open(path) as src:
            # Reading one pixel proves the file decodes at all (truncated files fail here).
            src.read(1, window=((0, 1), (0, 1)))
            if src.transform.b != 0 or src.transform.d != 0:
                raise ProcessingFailed(f"{path.name}: rotated rasters are not supported")
            if not src.transform.is_identity and src.transform.e > 0:
                raise ProcessingFailed(f"{path.name}: south-up rasters are not supported")
            if src.transform.is_identity:
                raise ProcessingFailed(f"{path.name}: the raster is not georeferenced (no geotransform)")
            if any(dt != "uint8" for dt in src.dtypes):
                raise ProcessingFailed(
                    f"{path.name}: data type {src.dtypes[0]} is not supported; "
                    "the pyramid needs 8-bit images (grey or RGB, optional alpha)"
                )
            color = tuple(i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha)
            if len(color) == 4 and src.count == 4:
                color = (1, 2, 3)  # RGBA whose 4th band is not flagged as alpha
            if len(color) not in (1, 3):
                raise ProcessingFailed(
                    f"{path.name}: {src.count} bands; the pyramid needs grey or RGB images (optional alpha)"
                )
            crs = src.crs
            if crs is None:
                if not declared_srs:
                    raise ProcessingFailed(f"{path.name}: input has no CRS and the upload declares no srs")
                log(f"WARNING {path.name}: input has no CRS, using the upload's declared srs {declared_srs}")
                crs = CRS.from_user_input(declared_srs)
            return RasterFile(
                path=path,
                crs=crs,
                width=src.width,
                height=src.height,
                bounds=(src.bounds.left, src.bounds.bottom, src.bounds.right, src.bounds.top),
                color_bands=color,
                nodata=src.nodata,
            )
    except ProcessingFailed:
        raise
    except (RasterioError, OSError, ValueError) as exc:
        raise ProcessingFailed(f"{path.name}: unreadable raster ({exc})") from None


def group_by_crs(files: list[RasterFile]) -> list[list[RasterFile]]:
    """Files grouped by CRS, in first-seen order."""
    groups: dict[str, list[RasterFile]] = {}
    for f in files:
        groups.setdefault(f.crs.to_wkt(), []).append(f)
    return list(groups.values())


def _source_xml(tag: str, f: RasterFile, band: str, src_rect: str, dst_rect: str, extra: str) -> str:
    return (
        f'<{tag} resampling="nearest"><SourceFilename relativeToVRT="0">{escape(str(f.path.resolve()))}'
        f"</SourceFilename><SourceBand>{band}</SourceBand>{src_rect}{dst_rect}{extra}</{tag}>"
    )


def write_mosaic_vrt(files: list[RasterFile], target: Path) -> SourceGroup:
    """Write a VRT mosaicking same-CRS rasters at the finest resolution, plus an alpha band.

    The alpha band copies each file's GDAL mask band (``mask,1``: nodata, alpha band, internal
    mask or all-valid), so gaps between files and nodata areas stay transparent.
    """
    n_color = {len(f.color_bands) for f in files}
    if len(n_color) != 1:
        listing = ", ".join(f"{f.path.name} ({len(f.color_bands)})" for f in files)
        raise ProcessingFailed(f"rasters mix grey and RGB images, which cannot be mosaicked: {listing}")
    color = n_color.pop()
    resx = min(f.res[0] for f in files)
    resy = min(f.res[1] for f in files)
    left = min(f.bounds[0] for f in files)
    bottom = min(f.bounds[1] for f in files)
    right = max(f.bounds[2] for f in files)
    top = max(f.bounds[3] for f in files)
    width = max(1, math.ceil((right - left) / resx - 1e-6))
    height = max(1, math.ceil((top - bottom) / resy - 1e-6))
    names: list[str] = ["Red", "Green", "Blue"] if color == 3 else ["Gray"]
    bands: list[list[str]] = [[] for _ in range(color + 1)]
    for f in files:
        src_rect = f'<SrcRect xOff="0" yOff="0" xSize="{f.width}" ySize="{f.height}"/>'
        dst_rect = (
            f'<DstRect xOff="{(f.bounds[0] - left) / resx!r}" yOff="{(top - f.bounds[3]) / resy!r}" '
            f'xSize="{f.width * f.res[0] / resx!r}" ySize="{f.height * f.res[1] / resy!r}"/>'
        )
        nodata = "" if f.nodata is None else f"<NODATA>{f.nodata!r}</NODATA>"
        for i, band in enumerate(f.color_bands):
            bands[i].append(_source_xml("ComplexSource", f, str(band), src_rect, dst_rect, nodata))
        # A zero mask value must not erase what an earlier file wrote there.
        bands[color].append(
            _source_xml(
                "ComplexSource", f, f"mask,{f.color_bands[0]}", src_rect, dst_rect, "<NODATA>0</NODATA>"
            )
        )
    xml = [
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
        f"<SRS>{escape(files[0].crs.to_wkt())}</SRS>",
        f"<GeoTransform>{left!r}, {resx!r}, 0, {top!r}, 0, {-resy!r}</GeoTransform>",
    ]
    for i, sources in enumerate(bands):
        interp = names[i] if i < color else "Alpha"
        xml.append(f'<VRTRasterBand dataType="Byte" band="{i + 1}"><ColorInterp>{interp}</ColorInterp>')
        xml.extend(sources)
        xml.append("</VRTRasterBand>")
    xml.append("</VRTDataset>")
    target.write_text("\n".join(xml), encoding="utf-8")
    return SourceGroup(
        crs=files[0].crs,
        vrt=target,
        files=tuple(files),
        bounds=(left, top - height * resy, left + width * resx, top),
        color_bands=color,
    )
