"""Raster check on good and damaged JPEG GeoTIFFs generated here."""

from __future__ import annotations

from pathlib import Path

from gpf_flow.checks import raster_check
from gpf_flow.datasets import write_dataset


def test_checks_raster_sample_dataset_passes(tmp_path: Path, make_ctx, jpeg_tiff, strip_layout) -> None:
    folder = write_dataset("raster-sample", tmp_path)
    ctx = make_ctx(folder, "RASTER")
    assert raster_check.run(ctx.context) is True
    assert ctx.errors == []
    assert sum("every block decodes" in line for line in ctx.lines) == 4


def test_checks_raster_bytes_removed_in_a_strip_fails_naming_file_and_block(
    tmp_path: Path, make_ctx, jpeg_tiff, strip_layout
) -> None:
    good = jpeg_tiff(tmp_path / "src" / "good.tif")
    offsets, counts = strip_layout(good)
    data = good.read_bytes()
    cut = offsets[5] + counts[5] // 2  # inside strip 5
    bad = tmp_path / "up" / "data" / "bad.tif"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(data[:cut] + data[cut + 3 :])
    # The header still opens: the damage is only in the compressed blocks.
    import rasterio

    with rasterio.open(bad) as src:
        assert src.width == 256
    ctx = make_ctx(tmp_path / "up", "RASTER")
    assert raster_check.run(ctx.context) is False
    assert ctx.errors, ctx.lines
    assert all("data/bad.tif" in line for line in ctx.errors)
    # The strip that lost bytes is named although libjpeg decodes it silently...
    assert any("block (row 5, col 0)" in e and "its JPEG data does not end" in e for e in ctx.errors), (
        ctx.errors
    )
    # ...the following ones no longer decode...
    assert any("block (row 6, col 0)" in line and "does not decode" in line for line in ctx.errors), (
        ctx.errors
    )
    # ...and the last one points past the end of the file.
    assert any("block (row 15, col 0)" in e and "its data ends at byte" in e for e in ctx.errors), ctx.errors


def test_checks_raster_truncated_file_reports_strip_offsets_past_eof(
    tmp_path: Path, make_ctx, jpeg_tiff, strip_layout
) -> None:
    good = jpeg_tiff(tmp_path / "up" / "t.tif")
    good.write_bytes(good.read_bytes()[:-10])
    ctx = make_ctx(tmp_path / "up", "RASTER")
    assert raster_check.run(ctx.context) is False
    assert any(
        "block (row 15, col 0)" in line and "its data ends at byte" in line and "t.tif" in line
        for line in ctx.errors
    ), ctx.errors


def test_checks_raster_not_a_raster_fails(tmp_path: Path, make_ctx, jpeg_tiff, strip_layout) -> None:
    (tmp_path / "x.tif").write_bytes(b"this is not a tiff at all")
    (tmp_path / "notes.doc").write_text("hello")
    ctx = make_ctx(tmp_path, "RASTER")
    assert raster_check.run(ctx.context) is False
    assert any("x.tif: does not open as a raster" in line for line in ctx.errors)
    assert any("notes.doc: not a raster file" in line for line in ctx.errors)


def test_checks_raster_stops_when_aborted(tmp_path: Path, make_ctx, jpeg_tiff, strip_layout) -> None:
    jpeg_tiff(tmp_path / "a.tif")
    ctx = make_ctx(tmp_path, "RASTER", aborted=True)
    assert raster_check.run(ctx.context) is False
    assert any("aborted" in line for line in ctx.lines)


def test_checks_raster_structure_scan_of_a_huge_sparse_tiff(tmp_path: Path) -> None:
    import rasterio
    from PIL import Image
    from rasterio.transform import Affine

    from gpf_flow.checks.raster_check import _tiff_structure_problems

    path = tmp_path / "huge.tif"
    profile = {
        "driver": "GTiff",
        "width": 20000,
        "height": 20000,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.5, 0.0, 900000.0, 0.0, -0.5, 6600000.0),
        "tiled": True,
        "compress": "JPEG",
        "sparse_ok": True,
    }
    with rasterio.open(path, "w", **profile):
        pass  # nothing written: every block is sparse
    guard = Image.MAX_IMAGE_PIXELS
    assert _tiff_structure_problems(path) == {}  # 400 Mpx: no decompression-bomb error, nothing damaged
    assert guard == Image.MAX_IMAGE_PIXELS
