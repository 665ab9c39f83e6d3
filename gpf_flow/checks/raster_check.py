"""Raster check: every file opens with rasterio and every block decodes.

The pass is bounded in memory: blocks are read one window at a time with a small GDAL cache.
libtiff reports libjpeg problems ("Corrupt JPEG data...") as GDAL *warnings*, not errors, so the
``rasterio._err`` logger is captured around each block read and any warning counts as damage.
TIFF strip/tile offsets are also compared with the file size: a file cut short still opens but
its last blocks point past its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpf_flow.checks._support import ErrorBudget, check_each, select, suffix_of
from gpf_flow.checks.base import CheckContext

RASTER_EXTENSIONS = (".tif", ".tiff", ".jp2", ".png", ".jpg", ".jpeg", ".gtiff", ".bil", ".asc", ".vrt")
SIDECAR_EXTENSIONS = (
    *(".tfw", ".tifw", ".jgw", ".pgw", ".wld", ".prj"),
    *(".aux.xml", ".ovr", ".xml", ".txt", ".md"),
)
_GDAL_LOGGERS = ("rasterio._err", "rasterio._env", "rasterio._io", "rasterio._base")
_TIFF_OFFSETS = ((273, 279), (324, 325))  # StripOffsets/StripByteCounts, TileOffsets/TileByteCounts
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"  # JPEG start / end of image


class _Collector(logging.Handler):
    """Keeps the GDAL warnings and errors that rasterio logs.

    rasterio logs GDAL errors at INFO ("GDAL signalled an error: ...") before raising a generic
    exception, and GDAL warnings (libjpeg's "Corrupt JPEG data" among them) at WARNING.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.messages.append(message)
        elif "signalled an error" in message:
            self.messages.append(message.split("msg=", 1)[-1].strip("'\""))

    def take(self) -> list[str]:
        taken, self.messages = self.messages, []
        return taken


@contextmanager
def _capture_gdal() -> Iterator[_Collector]:
    collector = _Collector()
    loggers = [logging.getLogger(name) for name in _GDAL_LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(collector)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    try:
        yield collector
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(collector)
            lg.setLevel(level)
            lg.propagate = propagate


BlockKey = tuple[int, int, int]
"""(TIFF image number, block row, block column); image 0 is the full-resolution one."""


def _tiff_structure_problems(path: Path) -> dict[BlockKey, list[str]]:
    """Blocks whose bytes lie past the end of the file, or (JPEG) lack their start/end markers.

    Each strip or tile of a JPEG-compressed TIFF is a whole JPEG stream (FFD8 ... FFD9): a block
    that has lost or gained bytes no longer ends with the end-of-image marker, even when libjpeg
    decodes it without complaint.
    """
    import math

    from PIL import Image, UnidentifiedImageError

    size = path.stat().st_size
    problems: dict[BlockKey, list[str]] = {}
    # Only tags are read, never pixels: the decompression-bomb guard does not apply.
    guard, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as image, path.open("rb") as raw:
            for frame in range(getattr(image, "n_frames", 1)):
                image.seek(frame)
                tags = image.tag_v2  # type: ignore[attr-defined]
                jpeg = tags.get(259) == 7
                for offsets_tag, counts_tag in _TIFF_OFFSETS:
                    offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
                    if offsets is None or counts is None:
                        continue
                    tiled = offsets_tag == 324
                    per_row = math.ceil(image.size[0] / tags.get(322, image.size[0])) if tiled else 1
                    for index, (offset, count) in enumerate(zip(offsets, counts, strict=False)):
                        if not count:
                            continue
                        found = problems.setdefault((frame, index // per_row, index % per_row), [])
                        if offset + count > size:
                            found.append(
                                f"its data ends at byte {offset + count} but the file has "
                                f"{size} bytes (truncated or damaged)"
                            )
                            continue
                        if jpeg and count >= 4:
                            raw.seek(offset)
                            head = raw.read(2)
                            raw.seek(offset + count - 2)
                            tail = raw.read(2)
                            if head != _SOI or tail != _EOI:
                                which = "start" if head != _SOI else "end"
                                found.append(
                                    f"its JPEG data does not {which} with the JPEG marker "
                                    "(bytes lost or added inside the file)"
                                )
    except (UnidentifiedImageError, OSError, ValueError, EOFError):
        return {}  # not a TIFF Pillow reads: GDAL decoding below still checks every block
    finally:
        Image.MAX_IMAGE_PIXELS = guard
    return {key: texts for key, texts in problems.items() if texts}


_GENERIC = ("IReadBlock failed", "TIFFReadEncoded", "Read failed")


def _decode_details(messages: list[str], cause: str | None) -> str:
    """The specific GDAL messages of a failed read, without the generic follow-ups or repeats."""
    cleaned: list[str] = []
    for message in [*messages, *([cause] if cause else [])]:
        text = message.removeprefix("CPLE_AppDefined:").strip()
        if text and text not in cleaned:
            cleaned.append(text)
    specific = [m for m in cleaned if not any(g in m for g in _GENERIC)]
    return "; ".join(specific or cleaned[:1])


def _check_file(ctx: CheckContext, relative: str, path: Path, collector: _Collector) -> bool:
    import rasterio
    from rasterio.errors import RasterioError

    budget = ErrorBudget(ctx, relative)
    structure: dict[BlockKey, list[str]] = {}
    if suffix_of(relative) in (".tif", ".tiff", ".gtiff"):
        structure = _tiff_structure_problems(path)
    collector.take()
    try:
        dataset = rasterio.open(path)
    except RasterioError as exc:
        budget.error(f"does not open as a raster: {exc}")
        budget.close()
        return False
    blocks = 0
    with dataset:
        for message in collector.take():
            budget.error(f"GDAL warning on open: {message}")
        srs = str(ctx.upload.get("srs") or "")
        if dataset.crs is None:
            ctx.log(f"WARNING {relative}: no CRS in the file; the upload's srs {srs or '-'} is assumed")
        else:
            from gpf_flow.checks.crs_match import crs_mismatch

            found = crs_mismatch(srs, dataset.crs)
            if found is not None:
                budget.error(
                    f"the data is in {found}, the upload declares {srs} "
                    "(fix the upload's srs, or reproject the data)"
                )
        for (row, col), window in dataset.block_windows(1):
            if blocks % 256 == 0 and ctx.is_aborted():
                return False
            blocks += 1
            problems = structure.pop((0, row, col), [])
            try:
                dataset.read(window=window)
                problems += [f"damaged: {m.removeprefix('CPLE_AppDefined:')}" for m in collector.take()]
            except RasterioError as exc:
                cause = exc.__cause__ or exc
                problems.append(f"does not decode: {_decode_details(collector.take(), str(cause))}")
            if problems:
                x_range = f"{window.col_off}..{window.col_off + window.width - 1}"
                y_range = f"{window.row_off}..{window.row_off + window.height - 1}"
                budget.error(
                    f"block (row {row}, col {col}) at pixels x={x_range}, y={y_range}: {'; '.join(problems)}"
                )
        for (frame, row, col), texts in sorted(structure.items()):
            image = "" if frame == 0 else f"overview image {frame}, "
            budget.error(f"{image}block #{row},{col} in the TIFF: {'; '.join(texts)}")
        summary = f"{dataset.width}x{dataset.height} px, {dataset.count} band(s), {blocks} blocks"
    budget.close()
    if budget.ok:
        ctx.log(f"INFO {relative}: {summary}, every block decodes")
    else:
        ctx.log(f"INFO {relative}: {summary}, {budget.count} problem(s)")
    return budget.ok


def run(ctx: CheckContext) -> bool:
    """Pass when every raster file opens and all its blocks decode without warnings."""
    import rasterio

    rasters = list(select(ctx.files, RASTER_EXTENSIONS))
    ok = True
    for relative in sorted(set(ctx.files) - set(rasters)):
        if suffix_of(relative) in SIDECAR_EXTENSIONS:
            ctx.log(f"INFO {relative}: side file, not a raster")
        else:
            ctx.log(f"ERROR {relative}: not a raster file (expected one of {', '.join(RASTER_EXTENSIONS)})")
            ok = False
    if not rasters:
        ctx.log("ERROR upload: no raster file (.tif, .jp2, .png, .jpg...) in this RASTER upload")
        return False
    with rasterio.Env(GDAL_CACHEMAX=32), _capture_gdal() as collector:
        passed = check_each(ctx, rasters, lambda relative, path: _check_file(ctx, relative, path, collector))
    if passed is None:
        return False
    ok = passed and ok
    ctx.log(f"INFO {len(rasters)} raster file(s) checked: {'all decode' if ok else 'problems found'}")
    return ok
