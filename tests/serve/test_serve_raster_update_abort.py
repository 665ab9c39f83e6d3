"""An update of a pyramid aborted midway leaves the old pyramid intact (issue 13, "aborted midway").

Real components: ``gpf-flow serve`` serves the stored data over TMS while the local store's
worker runs "Calcul ou mise à jour de pyramide raster" on it (upload + stored data, output
``_id`` = the same stored data); the execution is aborted through the store once the update has
written tiles. The stored data keeps its id, status and description, and every tile it served
before is served again byte for byte.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from test_serve_ogc_support import (
    RASTER_PROCESSING,
    X0,
    Y0,
    deliver,
    process,
    publish,
    wait_for,
    write_raster,
)

from gpf_flow.processings.base import processing_id
from gpf_flow.store.local import LocalStore

PARAMS = {"tms": "PM", "compression": "jpg", "interpolation": "linear"}


def write_new_data(folder: Path) -> None:
    """A 1 km raster over part of the old one, with other colours (so any new tile would differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(5).integers(0, 255, (3, 500, 500), dtype=np.uint8)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": 500,
        "height": 500,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": from_origin(X0 + 500, Y0 + 1500, 2.0, 2.0),
    }
    with rasterio.open(folder / "new.tif", "w", **profile) as dst:
        dst.write(data)


def served_tiles(base_url: str, layer: str, mbtiles: Path) -> dict[tuple[int, int, int], bytes]:
    """Every tile of the file, as the server's TMS answers it."""
    with sqlite3.connect(f"file:{mbtiles}?mode=ro", uri=True) as db:
        keys = [
            (z, x, 2**z - 1 - r)
            for z, x, r in db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles")
        ]
    out = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for z, x, y in keys:
            response = client.get(f"/tms/1.0.0/{layer}/{z}/{x}/{y}.jpeg")
            assert response.status_code == 200, (z, x, y, response.text)
            out[(z, x, y)] = response.content
    return out


@pytest.fixture(scope="module")
def base(
    server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalStore, dict[str, Any], Path]]:
    tmp = tmp_path_factory.mktemp("update-abort")
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        write_raster(tmp / "old")
        old = deliver(store, tmp / "old", "OLD_RASTER", "RASTER")
        pyramid = process(store, RASTER_PROCESSING, old, "pyr_updated", PARAMS)
        publish(store, "WMTS-TMS", "tiles_updated", {"used_data": [{"stored_data": pyramid["_id"]}]})
        write_new_data(tmp / "new")
        yield store, pyramid, tmp / "new"
    finally:
        store.close()


def test_update_aborted_midway_keeps_the_old_pyramid(
    server: Any, base: tuple[LocalStore, dict[str, Any], Path]
) -> None:
    store, pyramid, new_folder = base
    sd_id = pyramid["_id"]
    mbtiles = store.stored_data_dir(sd_id) / "pyramid.mbtiles"
    before = served_tiles(server.base_url, "tiles_updated", mbtiles)
    assert len(before) > 10
    file_before = mbtiles.read_bytes()

    new = deliver(store, new_folder, "NEW_RASTER", "RASTER")
    # bottom level 21 (4 cm tiles for 2 m data): thousands of tiles, many seconds of work
    ex = store.create_processing_execution(
        {
            "processing": processing_id(RASTER_PROCESSING),
            "inputs": {"upload": [new["_id"]], "stored_data": [sd_id]},
            "output": {"stored_data": {"_id": sd_id}},
            "parameters": {**PARAMS, "bottom": "21"},
        }
    )
    store.launch_processing_execution(ex["_id"])
    # midway: the update has planned on the old pyramid and reported rendered tiles
    wait_for(
        lambda: any("progress:" in line for line in store.processing_execution_logs(ex["_id"])),
        "the update's first progress line",
    )
    assert store.get_entity("stored_data", sd_id)["status"] == "MODIFYING"
    store.abort_processing_execution(ex["_id"])
    status = wait_for(
        lambda: (
            (s := store.get_entity("processing_execution", ex["_id"])["status"])
            in ("SUCCESS", "FAILURE", "ABORTED")
            and s
        ),
        "the aborted execution's end",
    )
    logs = store.processing_execution_logs(ex["_id"])
    assert status == "ABORTED", logs
    assert any("update of an existing pyramid" in line for line in logs)

    after = store.get_entity("stored_data", sd_id)
    assert after["_id"] == sd_id and after["status"] == "GENERATED"
    assert after["type_infos"] == pyramid["type_infos"] and after.get("extent") == pyramid.get("extent")
    assert mbtiles.read_bytes() == file_before
    assert sorted(p.name for p in mbtiles.parent.iterdir()) == ["pyramid.mbtiles"]  # no leftover
    assert not list((server.home / "stored_data").glob(".gpf-*"))  # nor a work folder
    assert served_tiles(server.base_url, "tiles_updated", mbtiles) == before
