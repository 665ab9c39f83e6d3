"""Raster pyramid processing on generated Lambert-93 GeoTIFFs: tile sets, pixels, workers, abort, errors."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from PIL import Image
from processings_rasters import ORIGIN_X, ORIGIN_Y, write_tiles
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.warp import reproject

from gpf_flow.processings import raster_pyramid
from gpf_flow.processings.base import ProcessingAborted, ProcessingFailed

PM = morecantile.tms.get("WebMercatorQuad")
RASTER = {"name": "R", "type": "RASTER", "srs": "EPSG:2154"}


def read_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """All tiles keyed by XYZ (z, x, y) — the file stores TMS rows."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    return {(z, x, 2**z - 1 - row): bytes(data) for z, x, row, data in rows}


def footprint_3857(n: int, size: int, res: float) -> shapely.Geometry:
    """Outline of the n×n mosaic written by write_tiles, reprojected (densified) to Web Mercator."""
    outline = shapely.box(ORIGIN_X, ORIGIN_Y - n * size * res, ORIGIN_X + n * size * res, ORIGIN_Y)
    to_3857 = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    dense = shapely.segmentize(outline, n * size * res / 200)
    return shapely.transform(dense, lambda xy: np.column_stack(to_3857.transform(xy[:, 0], xy[:, 1])))


def predicted_tiles(footprint: shapely.Geometry, z: int, margin_px: float) -> tuple[set[Any], set[Any]]:
    """(sure, possible): tiles whose area meets the footprint shrunk / grown by margin_px pixels.

    The margin absorbs resampling kernels at the data's edges; where the two sets are equal the
    tile set is exactly determined by the geometry.
    """
    res = PM.matrix(z).cellSize
    sure_zone = footprint.buffer(-margin_px * res)
    possible_zone = footprint.buffer(margin_px * res)
    to_lonlat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lonlat = to_lonlat.transform_bounds(*possible_zone.bounds)
    sure, possible = set(), set()
    for t in PM.tiles(*lonlat, [z]):
        b = PM.xy_bounds(t)
        tile_box = shapely.box(b.left, b.bottom, b.right, b.top)
        if tile_box.intersection(possible_zone).area > 0:
            possible.add((t.z, t.x, t.y))
        if not sure_zone.is_empty and tile_box.intersection(sure_zone).area > 0:
            sure.add((t.z, t.x, t.y))
    return sure, possible


def reference_tile(paths: list[Path], z: int, x: int, y: int) -> np.ndarray:
    """The tile computed independently: each source GeoTIFF reprojected (cubic) onto the tile grid."""
    b = PM.xy_bounds(morecantile.Tile(x, y, z))
    res = (b.right - b.left) / 256
    transform = Affine(res, 0, b.left, 0, -res, b.top)
    out = np.zeros((3, 256, 256), dtype=np.float32)
    weight = np.zeros((256, 256), dtype=np.float32)
    for path in paths:
        with rasterio.open(path) as src:
            dst = np.zeros((3, 256, 256), dtype=np.float32)
            reproject(
                rasterio.band(src, [1, 2, 3]),
                dst,
                dst_transform=transform,
                dst_crs="EPSG:3857",
                resampling=Resampling.cubic,
                dst_nodata=-1,
            )
            valid = dst[0] >= 0
            out[:, valid] += dst[:, valid]
            weight[valid] += 1
    assert weight.min() > 0, "reference tile must be fully covered"
    return out / weight


@pytest.fixture(scope="module")
def upload_1m(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """2×2 GeoTIFFs of 300×300 px at 1 m in EPSG:2154 (a 600 m square), with an md5 file at the root."""
    root = tmp_path_factory.mktemp("upload_1m")
    paths = write_tiles(root / "ortho", 2, 300, 1.0)
    (root / "upload.md5").write_text(
        "".join(f"0123456789abcdef0123456789abcdef  ortho/{p.name}\n" for p in paths)
    )
    return root, paths


def test_tile_sets_match_the_tms_prediction(make_ctx, upload_1m) -> None:
    root, _ = upload_1m
    h = make_ctx(uploads=[(RASTER, root)], parameters={"tms": "PM", "bottom": "18", "top": "12"})
    result = raster_pyramid.run(h.ctx)
    tiles = read_tiles(h.ctx.output_dir / "pyramid.mbtiles")
    footprint = footprint_3857(2, 300, 1.0)
    exact = []
    for z in range(12, 19):
        produced = {k for k in tiles if k[0] == z}
        # the cubic warp stays within a pixel of the outline; bicubic halvings spread up to ~2 px
        sure, possible = predicted_tiles(footprint, z, margin_px=1 if z == 18 else 2)
        assert sure <= produced <= possible, f"level {z}"
        if sure == possible:  # no tile edge within the margin of the data's outline: exact prediction
            assert produced == sure, f"level {z}"
            exact.append(z)
        assert result.type_infos["tiles"][str(z)] == len(produced)
    assert 18 in exact and len(exact) >= 4, exact
    assert result.type_infos["levels"] == [str(z) for z in range(12, 19)]
    assert result.type_infos["bottom_level"] == "18" and result.type_infos["top_level"] == "12"
    assert result.type_infos["format"] == "image/jpeg" and result.type_infos["file"] == "pyramid.mbtiles"
    assert result.srs == "EPSG:3857"
    assert not (h.ctx.output_dir / ".pyramid-work").exists()
    assert any(line.startswith("level 18:") for line in h.logs)


def test_bbox_and_extent_are_the_reprojected_outline(make_ctx, upload_1m) -> None:
    root, _ = upload_1m
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 15, "top_level": 15})
    result = raster_pyramid.run(h.ctx)
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    corners = [
        to_lonlat.transform(x, y) for x in (ORIGIN_X, ORIGIN_X + 600) for y in (ORIGIN_Y - 600, ORIGIN_Y)
    ]
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    expected = [min(lons), min(lats), max(lons), max(lats)]
    assert result.type_infos["bbox"] == pytest.approx(expected, abs=1e-7)
    extent = shapely.geometry.shape(result.extent)
    truth = shapely.Polygon([corners[0], corners[2], corners[3], corners[1]])
    assert extent.symmetric_difference(truth).area < 1e-4 * truth.area
    with sqlite3.connect(h.ctx.output_dir / "pyramid.mbtiles") as db:
        meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert [float(v) for v in meta["bounds"].split(",")] == pytest.approx(expected, abs=1e-7)
    assert meta["format"] == "jpg" and meta["tms"] == "PM" and meta["minzoom"] == meta["maxzoom"] == "15"


def test_tile_pixels_match_the_source_resampled(make_ctx, upload_1m) -> None:
    root, paths = upload_1m
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": "18", "top_level": "17"})
    raster_pyramid.run(h.ctx)
    tiles = read_tiles(h.ctx.output_dir / "pyramid.mbtiles")
    centre = shapely.centroid(footprint_3857(2, 300, 1.0))
    for z in (18, 17):
        t = PM.tile(*Transformer.from_crs(3857, 4326, always_xy=True).transform(centre.x, centre.y), z)
        got = np.asarray(Image.open(io.BytesIO(tiles[(z, t.x, t.y)])).convert("RGB"), dtype=np.float32)
        ref = np.moveaxis(reference_tile(paths, z, t.x, t.y), 0, -1)
        # z18 comes from the cubic warp; z17 from a bicubic halving of z18, compared with a direct cubic warp
        assert np.abs(got.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max() < 2.0, z
        if z == 18:
            assert np.abs(got - ref).mean() < 8.0  # JPEG q85 on noisy content


def test_png_keeps_transparency_outside_the_data(make_ctx, upload_1m) -> None:
    root, _ = upload_1m
    h = make_ctx(
        uploads=[(RASTER, root)], parameters={"compression": "png", "bottom_level": 17, "top_level": 17}
    )
    result = raster_pyramid.run(h.ctx)
    assert result.type_infos["format"] == "image/png"
    images = [
        Image.open(io.BytesIO(data)) for data in read_tiles(h.ctx.output_dir / "pyramid.mbtiles").values()
    ]
    assert all(img.format == "PNG" for img in images)
    edge = [img for img in images if img.mode == "RGBA"]
    assert edge, "edge tiles keep an alpha channel"
    alpha = np.asarray(edge[0])[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255


def test_two_render_threads_write_the_same_tiles_as_one(make_ctx, upload_1m) -> None:
    root, _ = upload_1m
    params = {"bottom_level": "18", "top_level": "10", "interpolation": "bilinear"}
    one = make_ctx(uploads=[(RASTER, root)], parameters=params, workers=1)
    two = make_ctx(uploads=[(RASTER, root)], parameters=params, workers=2)
    raster_pyramid.run(one.ctx)
    raster_pyramid.run(two.ctx)
    assert any("with 2 threads" in line for line in two.logs)
    assert read_tiles(one.ctx.output_dir / "pyramid.mbtiles") == read_tiles(
        two.ctx.output_dir / "pyramid.mbtiles"
    )


def test_default_bottom_level_is_the_native_resolution(make_ctx, tmp_path) -> None:
    root = tmp_path / "half-metre"
    write_tiles(root, 1, 200, 0.5)
    h = make_ctx(uploads=[(RASTER, root)], parameters={"top_level": "17", "interpolation": "nearest"})
    result = raster_pyramid.run(h.ctx)
    # 0.5 m at 46.2° N is 0.72 m in Web Mercator: closest level 18 (0.60 m), as the platform does
    assert result.type_infos["bottom_level"] == "18"


def test_raster_without_crs_uses_the_declared_srs(make_ctx, tmp_path) -> None:
    root = tmp_path / "nocrs"
    write_tiles(root, 1, 100, 2.0, crs=None)
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 15, "top_level": 15})
    result = raster_pyramid.run(h.ctx)
    assert any("input has no CRS" in line and "EPSG:2154" in line for line in h.logs)
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    assert result.type_infos["bbox"][0] == pytest.approx(
        to_lonlat.transform(ORIGIN_X, ORIGIN_Y - 200)[0], abs=1e-6
    )


def test_mixed_crs_inputs_are_composited(make_ctx, tmp_path) -> None:
    root = tmp_path / "mixed"
    write_tiles(root / "l93", 1, 200, 1.0)
    x, y = Transformer.from_crs(2154, 3857, always_xy=True).transform(ORIGIN_X + 200, ORIGIN_Y)
    write_tiles(root / "merc", 1, 200, 1.4, crs="EPSG:3857", origin=(x, y), seed=7)
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 17, "top_level": 17})
    result = raster_pyramid.run(h.ctx)
    assert any("2 different CRS" in line for line in h.logs)
    west, _, east, _ = result.type_infos["bbox"]
    assert east - west > 0.004  # both inputs (≈ 200 m + 280 m wide) are covered


def test_abort_stops_quickly_and_cleans_up(make_ctx, tmp_path) -> None:
    root = tmp_path / "big"
    write_tiles(root, 2, 1000, 0.5)
    for workers in (1, 2):
        h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 20}, workers=workers)
        thread, outcome = _start_build(h)
        deadline = time.monotonic() + 60
        while not any(line.startswith("progress:") for line in h.logs) and time.monotonic() < deadline:
            time.sleep(0.05)
        h.abort.set()
        asked = time.monotonic()
        thread.join(timeout=30)
        assert not thread.is_alive()
        # the whole build takes minutes; a generous bound keeps a loaded machine from flaking
        assert time.monotonic() - asked < 10, "abort must be honoured within seconds"
        assert outcome and isinstance(outcome[0], ProcessingAborted), outcome
        assert list(h.ctx.output_dir.iterdir()) == []
        assert _render_threads() == [], "render threads must be gone"


def test_a_failed_write_stops_the_render_threads(make_ctx, tmp_path, monkeypatch) -> None:
    # The writing thread fails (as on a full disk) while both threads render: the build fails with
    # that error, no output and no thread is left behind.
    root = tmp_path / "big"
    write_tiles(root, 2, 1000, 0.5)
    put = raster_pyramid.MBTilesWriter.put
    written: list[int] = []

    def failing_put(self, *args) -> None:
        written.append(1)
        if len(written) == 40:
            raise OSError(28, "No space left on device", str(self.path))
        put(self, *args)

    monkeypatch.setattr(raster_pyramid.MBTilesWriter, "put", failing_put)
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 20}, workers=2)
    with pytest.raises(ProcessingFailed, match="No space left on device"):
        raster_pyramid.run(h.ctx)
    assert any("with 2 threads" in line for line in h.logs), h.logs
    assert list(h.ctx.output_dir.iterdir()) == []
    assert _render_threads() == []


def _start_build(h: Any) -> tuple[threading.Thread, list[BaseException]]:
    """``raster_pyramid.run(h.ctx)`` in a started thread; what it raises goes to the list."""
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            raster_pyramid.run(h.ctx)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _render_threads() -> list[threading.Thread]:
    """The pyramid's render threads still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("pyramid-render")]


@pytest.mark.parametrize(
    ("setup", "params", "message"),
    [
        ("garbage", {}, "unreadable raster"),
        ("truncated", {}, "unreadable raster"),
        ("empty", {}, "no raster file found"),
        ("float", {}, "data type float32 is not supported"),
        ("ok", {"tms": "LAMB93_XYZ"}, "unknown tile matrix set 'LAMB93_XYZ'; valid values: 4326, PM"),
        ("ok", {"compression": "webp"}, "parameter 'compression': unknown value 'webp'"),
        ("ok", {"bottom_level": "30"}, "bottom_level <= 24"),
        ("ok", {"bottom_level": "12", "top_level": "14"}, "top_level <= bottom_level"),
        ("ok", {"top": "x"}, "parameter 'top' must be a level number"),
    ],
)
def test_bad_inputs_fail_clearly(make_ctx, tmp_path, setup, params, message) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    if setup == "garbage":
        (root / "photo.tif").write_bytes(b"this is not a tiff" * 100)
    elif setup == "truncated":
        (path,) = write_tiles(root, 1, 256, 1.0)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif setup == "float":
        with rasterio.open(
            root / "dem.tif",
            "w",
            driver="GTiff",
            width=10,
            height=10,
            count=1,
            dtype="float32",
            crs="EPSG:2154",
            transform=Affine(1, 0, ORIGIN_X, 0, -1, ORIGIN_Y),
        ) as dst:
            dst.write(np.zeros((1, 10, 10), dtype=np.float32))
    elif setup == "ok":
        write_tiles(root, 1, 50, 1.0)
    h = make_ctx(uploads=[(RASTER, root)], parameters=params)
    with pytest.raises(ProcessingFailed, match=message.replace("(", r"\(")) as info:
        raster_pyramid.run(h.ctx)
    if setup in ("garbage", "truncated"):
        assert ".tif" in str(info.value)
    assert not (h.ctx.output_dir / "pyramid.mbtiles").exists()


def _run_in_daemon(root: str, out: str, queue: Any) -> None:
    """Body of a daemonic worker process (as a pool worker would be): run with 2 render threads."""
    from gpf_flow.processings.base import InputData, ProcessingContext

    logs: list[str] = []
    ctx = ProcessingContext(
        parameters={"bottom_level": 19, "top_level": 14},
        uploads=[InputData(RASTER, Path(root))],
        stored_data=[],
        output_dir=Path(out),
        log=logs.append,
        is_aborted=lambda: False,
        workers=2,
    )
    try:
        tiles = raster_pyramid.run(ctx).type_infos["tiles"]
        queue.put((tiles, any("with 2 threads" in line for line in logs)))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        queue.put(repr(exc))


@pytest.mark.slow
def test_a_pyramid_renders_in_threads_inside_a_daemonic_process(upload_1m, tmp_path) -> None:
    import multiprocessing

    root, _ = upload_1m
    mp = multiprocessing.get_context("spawn")
    queue = mp.Queue()
    proc = mp.Process(target=_run_in_daemon, args=(str(root), str(tmp_path), queue), daemon=True)
    proc.start()
    outcome = queue.get(timeout=120)
    proc.join(timeout=30)
    assert isinstance(outcome, tuple), outcome
    tiles, used_threads = outcome
    assert used_threads
    assert tiles["19"] > 0 and tiles["14"] > 0
    assert (tmp_path / "pyramid.mbtiles").is_file()


def test_update_draws_new_data_over_the_existing_pyramid(make_ctx, tmp_path) -> None:
    left, right, both = tmp_path / "left", tmp_path / "right", tmp_path / "both"
    write_tiles(left, 1, 300, 1.0, seed=3)
    write_tiles(right, 1, 300, 1.0, seed=4, origin=(ORIGIN_X + 300, ORIGIN_Y))
    for src in (left, right):
        for path in src.iterdir():
            (both / src.name).mkdir(parents=True, exist_ok=True)
            (both / src.name / path.name).write_bytes(path.read_bytes())
    params = {"bottom_level": "18", "top_level": "15", "interpolation": "nearest"}
    first = make_ctx(uploads=[(RASTER, left)], parameters=params)
    first_result = raster_pyramid.run(first.ctx)
    old = {
        "type": "ROK4-PYRAMID-RASTER",
        "type_infos": first_result.type_infos,
        "extent": first_result.extent,
    }
    update = make_ctx(uploads=[(RASTER, right)], stored_data=[(old, first.ctx.output_dir)], parameters=params)
    result = raster_pyramid.run(update.ctx)
    full = make_ctx(uploads=[(RASTER, both)], parameters=params)
    raster_pyramid.run(full.ctx)
    updated = read_tiles(update.ctx.output_dir / "pyramid.mbtiles")
    complete = read_tiles(full.ctx.output_dir / "pyramid.mbtiles")
    assert set(updated) == set(complete)
    assert any("update of an existing pyramid" in line for line in update.logs)
    seam = [k for k in complete if k[0] == 18 and k in read_tiles(first.ctx.output_dir / "pyramid.mbtiles")]
    for key in seam:
        a = np.asarray(Image.open(io.BytesIO(updated[key])).convert("RGB"), dtype=np.float32)
        b = np.asarray(Image.open(io.BytesIO(complete[key])).convert("RGB"), dtype=np.float32)
        assert np.abs(a - b).mean() < 4.0, key  # same content up to JPEG re-encoding
    west, _, east, _ = result.type_infos["bbox"]
    assert west == pytest.approx(first_result.type_infos["bbox"][0])
    assert east > first_result.type_infos["bbox"][2]


def test_other_quadtree_tms_uses_its_own_grid_and_rows(make_ctx, upload_1m) -> None:
    root, _ = upload_1m
    h = make_ctx(uploads=[(RASTER, root)], parameters={"tms": "WGS84G", "bottom_level": 16, "top_level": 14})
    result = raster_pyramid.run(h.ctx)
    crs84 = morecantile.tms.get("WorldCRS84Quad")
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(ORIGIN_X + 300, ORIGIN_Y - 300)
    centre = crs84.tile(lon, lat, 16)
    with sqlite3.connect(h.ctx.output_dir / "pyramid.mbtiles") as db:
        rows = set(db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles"))
        meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert (16, centre.x, crs84.matrix(16).matrixHeight - 1 - centre.y) in rows
    assert result.type_infos["tms"] == "WGS84G" and meta["tile_matrix_set"] == "WorldCRS84Quad"
    assert result.srs == "OGC:CRS84"


@pytest.mark.parametrize("workers", [1, 2])
def test_raster_broken_past_its_first_block_fails_while_rendering(make_ctx, tmp_path, workers) -> None:
    root = tmp_path / "broken"
    (path,) = write_tiles(root, 1, 1024, 0.5)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])  # header and first blocks intact, the rest missing
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 18, "top_level": 15}, workers=workers)
    with pytest.raises(ProcessingFailed, match="reading the input rasters failed"):
        raster_pyramid.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []
    assert _render_threads() == []


def test_nodata_areas_are_transparent_and_grey_stays_grey(make_ctx, tmp_path) -> None:
    root = tmp_path / "grey"
    root.mkdir()
    data = np.full((1, 400, 400), 120, dtype=np.uint8)
    data[:, :, 200:] = 0  # right half is nodata
    with rasterio.open(
        root / "grey.tif",
        "w",
        driver="GTiff",
        width=400,
        height=400,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:2154",
        transform=Affine(1, 0, ORIGIN_X, 0, -1, ORIGIN_Y),
    ) as dst:
        dst.write(data)
    h = make_ctx(
        uploads=[(RASTER, root)], parameters={"compression": "png", "bottom_level": 17, "top_level": 17}
    )
    raster_pyramid.run(h.ctx)
    tiles = read_tiles(h.ctx.output_dir / "pyramid.mbtiles")
    to_lonlat = Transformer.from_crs(2154, 4326, always_xy=True)
    # the valid half ends 200 m east of the origin: tiles beyond hold no data at all
    east_of_valid = to_lonlat.transform(ORIGIN_X + 200, ORIGIN_Y - 200)[0]
    assert any(Image.open(io.BytesIO(blob)).mode == "LA" for blob in tiles.values())
    for (z, x, y), blob in tiles.items():
        img = Image.open(io.BytesIO(blob))
        assert img.mode in ("L", "LA")
        assert PM.bounds(morecantile.Tile(x, y, z)).left < east_of_valid
        arr = np.asarray(img)
        if img.mode == "LA":
            opaque = arr[..., 1] == 255
            assert np.all(np.abs(arr[..., 0][opaque].astype(int) - 120) <= 1)
            assert (arr[..., 1] == 0).any()
