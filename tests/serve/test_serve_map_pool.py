"""Raster maps on a server with a map pool (``--workers 2``): maps that are one stored tile come
from the pyramid (the same pixels as MapProxy's), the others are drawn by pool processes, and a
burst of big maps does not hold back tiles and API calls."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from test_serve_ogc_support import World, build_world, data_bbox

from gpf_flow import tms as grids
from gpf_flow.serve.mbtiles import MBTiles
from gpf_flow.serve.ows import MAX_MAP_SIZE
from gpf_flow.store.local import LocalStore


@pytest.fixture(scope="module")
def world(pool_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(pool_server.home, public_url=pool_server.base_url)
    try:
        yield build_world(store, tmp_path_factory.mktemp("map-pool"), pool_server.base_url, ("raster",))
    finally:
        store.close()


def pyramid(world: World, key: str) -> MBTiles:
    stored = world.offerings[key].stored_data
    return MBTiles(world.store.stored_data_dir(stored["_id"]) / "pyramid.mbtiles")


def tile_box(z: int, col: int, row: int) -> tuple[float, float, float, float]:
    """The EPSG:3857 box of a PM tile (row from the top)."""
    level = grids.level(grids.get("WebMercatorQuad"), z)
    left, top = level.left + col * level.span, level.top - row * level.span
    return left, top - level.span, left + level.span, top


def getmap(world: World, layer: str, box: tuple[float, ...], fmt: str, **extra: str) -> httpx.Response:
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
        "CRS": "EPSG:3857", "BBOX": ",".join(repr(v) for v in box), "WIDTH": "256", "HEIGHT": "256",
        "FORMAT": fmt, **extra,
    }  # fmt: skip
    response = httpx.get(f"{world.base_url}/wms-r", params=params, timeout=120)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith(fmt)
    return response


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)


def stored_tiles(p: MBTiles) -> list[tuple[int, int, int]]:
    """One stored tile per level (the middle of each level's range)."""
    out = []
    for z, (c0, c1, r0, r1) in sorted(p.ranges.items()):
        out.append((z, (c0 + c1) // 2, (r0 + r1) // 2))
    return out


def test_an_aligned_getmap_in_the_pyramid_format_is_the_stored_tile(world: World) -> None:
    p = pyramid(world, "wms_r_jpg")
    checked = 0
    for z, col, row in stored_tiles(p):
        data = p.tile(z, col, row)
        if data is None:
            continue
        answer = getmap(world, "ortho_jpg", tile_box(z, col, row), "image/jpeg")
        assert answer.content == data, z
        checked += 1
    assert checked >= 2
    png = pyramid(world, "wms_r")
    z, col, row = stored_tiles(png)[-1]
    answer = getmap(world, "ortho_png", tile_box(z, col, row), "image/png", TRANSPARENT="TRUE")
    assert answer.content == png.tile(z, col, row)


@pytest.mark.parametrize(
    ("layer", "fmt", "transparent"),
    [
        ("ortho_png", "image/png", "TRUE"),
        ("ortho_png", "image/png", "FALSE"),
        ("ortho_png", "image/jpeg", "FALSE"),
        ("ortho_jpg", "image/jpeg", "FALSE"),
        ("ortho_jpg", "image/png", "TRUE"),
    ],
)
def test_aligned_getmaps_have_mapproxys_pixels(world: World, layer: str, fmt: str, transparent: str) -> None:
    key = "wms_r" if layer == "ortho_png" else "wms_r_jpg"
    z, col, row = stored_tiles(pyramid(world, key))[-1]
    box = tile_box(z, col, row)
    fast = getmap(world, layer, box, fmt, TRANSPARENT=transparent)
    # BGCOLOR (white, MapProxy's default) keeps the request off the fast path: MapProxy draws it.
    drawn = getmap(world, layer, box, fmt, TRANSPARENT=transparent, BGCOLOR="0xFFFFFF")
    if fmt == "image/jpeg":  # JPEG encodings of the same pixels (MapProxy re-encodes a JPEG tile)
        diff = np.abs(pixels(fast.content) - pixels(drawn.content))
        assert diff.max() <= 4 and diff.mean() < 1
    else:
        assert np.array_equal(pixels(fast.content), pixels(drawn.content))


def test_a_getmap_off_the_tiles_is_drawn_by_the_pool(world: World) -> None:
    p = pyramid(world, "wms_r_jpg")
    z, col, row = stored_tiles(p)[-1]
    x0, y0, x1, y1 = tile_box(z, col, row)
    half = (x1 - x0) / 2
    shifted = (x0 + half, y0, x1 + half, y1)
    answer = getmap(world, "ortho_jpg", shifted, "image/jpeg")
    image = pixels(answer.content)
    # the left half of the map is the right half of the stored tile
    stored = pixels(p.tile(z, col, row) or b"")
    assert np.abs(image[:, :128, :3] - stored[:, 128:, :3]).mean() < 8


def map_processes(pid: int) -> list[int]:
    """The server's children that are map pool processes (spawned by multiprocessing)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return found


def test_maps_are_drawn_by_at_most_workers_processes_and_the_api_is_one_server(
    world: World, pool_server: Any
) -> None:
    p = pyramid(world, "wms_r_jpg")
    z, col, row = stored_tiles(p)[-1]
    x0, y0, x1, y1 = tile_box(z, col, row)
    third = (x1 - x0) / 3
    for i in range(6):  # off the tiles: drawn in the pool
        getmap(world, "ortho_jpg", (x0 + i * third, y0, x1 + i * third, y1), "image/jpeg")
    assert 1 <= len(map_processes(pool_server.process.pid)) <= 2
    assert "map workers:  2 (processes)" in pool_server.log()
    # the API is served by the one server process: what one request creates, the next sees
    with pool_server.client() as api:
        created = api.post(
            f"{pool_server.ds}/uploads",
            json={"name": "ONE_SERVER", "description": "d", "srs": "EPSG:2154", "type": "VECTOR"},
        )
        assert created.status_code == 201, created.text
        listed = api.get(f"{pool_server.ds}/uploads", params={"name": "ONE_SERVER"})
        assert listed.headers["Content-Range"].endswith("/1")


@pytest.mark.slow  # four maps of the largest size
def test_a_burst_of_big_maps_does_not_hold_back_tiles_and_api_calls(world: World, pool_server: Any) -> None:
    west, south, east, north = data_bbox("EPSG:4326")
    big = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "ortho_png", "STYLES": "",
        "CRS": "EPSG:4326", "BBOX": f"{south},{west},{north},{east}", "WIDTH": str(MAX_MAP_SIZE),
        "HEIGHT": str(MAX_MAP_SIZE), "FORMAT": "image/png", "TRANSPARENT": "TRUE",
    }  # fmt: skip
    heavy_done: list[str] = []
    sent = threading.Semaphore(0)

    def heavy(i: int) -> None:
        hooks = {"request": [lambda request: sent.release()]}
        with httpx.Client(timeout=600, event_hooks=hooks) as http:
            r = http.get(f"{world.base_url}/wms-r", params=big)
        assert r.status_code == 200, r.text[:300]
        heavy_done.append(f"map {i}")

    heavy_threads = [threading.Thread(target=heavy, args=(i,)) for i in range(4)]  # 2 drawn, 2 queued
    for t in heavy_threads:
        t.start()
    for _ in heavy_threads:
        sent.acquire()
    p = pyramid(world, "wms_r_jpg")
    z, col, row = stored_tiles(p)[-1]
    cheap_done_while_maps_in_flight = []
    with pool_server.client() as api:
        for _ in range(3):
            tile = httpx.get(f"{world.base_url}/wmts/ortho_tiles/normal/PM/{z}/{row}/{col}.jpeg", timeout=600)
            assert tile.status_code == 200 and tile.content == p.tile(z, col, row)
            listed = api.get(f"{pool_server.ds}/stored_data", timeout=600)
            assert listed.status_code == 200 and len(listed.json()) >= 2
            cheap_done_while_maps_in_flight.append(len(heavy_done) < len(heavy_threads))
    for t in heavy_threads:
        t.join()
    assert len(heavy_done) == len(heavy_threads)
    # every tile and list came back while big maps were still being drawn or queued
    assert cheap_done_while_maps_in_flight == [True, True, True]


def test_the_map_pool_stops_with_the_server(make_server: Any, stop: Any) -> None:
    server = make_server("--workers", "2")
    # no raster offering: the pool process answers MapProxy's way, with an exception report
    answer = httpx.get(
        f"{server.base_url}/wms-r",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": "nothing",
            "STYLES": "",
            "CRS": "EPSG:3857",
            "BBOX": "0,0,1000,1000",
            "WIDTH": "300",
            "HEIGHT": "200",
            "FORMAT": "image/png",
        },  # fmt: skip
        timeout=120,
    )
    assert answer.status_code == 400 and b"LayerNotDefined" in answer.content
    pool = map_processes(server.process.pid)
    assert 1 <= len(pool) <= 2
    assert stop(server) == 0
    assert [pid for pid in pool if Path(f"/proc/{pid}").exists()] == []
