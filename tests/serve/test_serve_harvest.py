"""WMS harvesting builds a pyramid from our own ``gpf-flow serve`` WMS-VECTOR; a bad WMS fails clearly."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from test_serve_ogc_support import X0, Y0, World, build_world, free_port

from gpf_flow.processings import raster_harvest
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed
from gpf_flow.store.local import LocalStore

PM = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        yield build_world(store, tmp_path_factory.mktemp("harvest"), server.base_url, ("vector",))
    finally:
        store.close()


def area_wkt() -> str:
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    w, s, e, n = to_lonlat.transform_bounds(X0, Y0, X0 + 2000, Y0 + 500)
    return f"POLYGON (({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"


def context(tmp_path: Path, **params: Any) -> tuple[ProcessingContext, list[str]]:
    out = tmp_path / "out"
    out.mkdir()
    logs: list[str] = []
    parameters = {
        "tms": "PM",
        "compression": "png",
        "interpolation": "nn",
        "harvest_layers": "zones_styled",
        "harvest_levels": ["15", "13"],
        "harvest_area": area_wkt(),
        "harvest_format": "image/png",
        "samplesperpixel": 3,
        "sampleformat": "UINT8",
        "bottom": "15",
        **params,
    }
    ctx = ProcessingContext(
        parameters=parameters,
        uploads=[],
        stored_data=[],
        output_dir=out,
        log=logs.append,
        is_aborted=lambda: False,
        output_entity={"name": "harvested"},
    )
    return ctx, logs


def test_harvest_builds_the_pyramid_from_the_wms(world: World, tmp_path: Path) -> None:
    ctx, logs = context(tmp_path, harvest_url=f"{world.base_url}/wms-v")
    result = raster_harvest.run(ctx)
    assert result.type_infos["bottom_level"] == "15" and result.type_infos["top_level"] == "0"
    assert all(result.type_infos["tiles"][str(z)] > 0 for z in (13, 14, 15))
    assert any("harvest level 13" in line for line in logs)
    with sqlite3.connect(ctx.output_dir / "pyramid.mbtiles") as db:
        rows = db.execute(
            "SELECT tile_column, tile_row, tile_data FROM tiles WHERE zoom_level = 15"
        ).fetchall()
    assert [p.name for p in ctx.output_dir.iterdir()] == ["pyramid.mbtiles"]
    # Each bottom tile is what the WMS draws for that tile's box.
    for x, tms_row, data in rows:
        y = (1 << 15) - 1 - tms_row
        b = PM.xy_bounds(morecantile.Tile(x, y, 15))
        direct = httpx.get(
            f"{world.base_url}/wms-v",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetMap",
                "LAYERS": "zones_styled",
                "STYLES": "",
                "CRS": "EPSG:3857",
                "BBOX": f"{b.left},{b.bottom},{b.right},{b.top}",
                "WIDTH": "256",
                "HEIGHT": "256",
                "FORMAT": "image/png",
                "TRANSPARENT": "TRUE",
            },
        )
        expected = np.asarray(Image.open(io.BytesIO(direct.content)).convert("RGBA")).astype(int)
        got = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)
        both = (expected[..., 3] == 255) & (got[..., 3] == 255)
        assert both.mean() > 0.01
        assert np.abs(got[both] - expected[both]).mean() < 3, (x, y)
    red = [np.asarray(Image.open(io.BytesIO(d)).convert("RGBA")) for _, _, d in rows]
    assert any(((img[..., 0] > 240) & (img[..., 1] < 15) & (img[..., 3] == 255)).any() for img in red)


def test_unreachable_wms_fails_clearly(tmp_path: Path) -> None:
    ctx, _ = context(tmp_path, harvest_url=f"http://127.0.0.1:{free_port()}/wms")
    with pytest.raises(ProcessingFailed, match="did not answer an image: ConnectError"):
        raster_harvest.run(ctx)
    assert list(ctx.output_dir.iterdir()) == []


def test_wms_exception_is_reported(world: World, tmp_path: Path) -> None:
    ctx, _ = context(tmp_path, harvest_url=f"{world.base_url}/wms-v", harvest_layers="no_such_layer")
    with pytest.raises(ProcessingFailed, match="HTTP 4.. .*no_such_layer"):
        raster_harvest.run(ctx)
