"""The official SDK's raster workflows run whole on the local store (gpf-flow run, unchanged files)."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from test_serve_ogc_support import X0, Y0, deliver

from gpf_flow.store.local import LocalStore

sdk = pytest.importorskip("sdk_entrepot_gpf", reason="the official SDK is a test dependency (dev extras)")
OFFICIAL = Path(sdk.__file__).parent / "_data" / "workflows"


def flat(folder: Path, colour: tuple[int, int, int], dx: float, dy: float) -> Path:
    folder.mkdir(parents=True)
    data = np.stack([np.full((400, 400), c, dtype=np.uint8) for c in colour])
    profile = {"driver": "GTiff", "width": 400, "height": 400, "count": 3, "dtype": "uint8"}
    transform = Affine(2.0, 0, X0 + dx, 0, -2.0, Y0 + dy)
    with rasterio.open(folder / "ortho.tif", "w", crs="EPSG:2154", transform=transform, **profile) as dst:
        dst.write(data)
    return folder


def gpf_flow(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args, "--home", str(home), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_generic_joincache_runs_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = LocalStore(home)
    try:
        for i, (colour, dx) in enumerate(
            [((200, 40, 40), 0.0), ((40, 200, 40), 1200.0), ((40, 40, 200), 400.0)]
        ):
            deliver(
                store,
                flat(tmp_path / f"r{i + 1}", colour, dx, 0.0),
                f"EXAMPLE_DATASET_RASTER{i + 1}",
                "RASTER",
            )
    finally:
        store.close()
    done = gpf_flow(home, "run", str(OFFICIAL / "generic_joincache.jsonc"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    store = LocalStore(home)
    try:
        stored = {d["name"].split("__")[-1]: d for d in store.list_entities("stored_data", limit=50).items}
        assert {"pyramide1", "pyramide2", "pyramide_fusion"} <= set(stored)
        assert {d["status"] for d in stored.values()} == {"GENERATED"}
        offerings = store.list_entities("offering", limit=50).items
        assert offerings and {o["status"] for o in offerings} == {"PUBLISHED"}
        # pyramide1 was updated in place by lot 3 (blue over red where they meet).
        p1 = stored["pyramide1"]
        path = store.stored_data_dir(p1["_id"]) / "pyramid.mbtiles"
        with sqlite3.connect(path) as db:
            z = db.execute("SELECT MAX(zoom_level) FROM tiles").fetchone()[0]
            blobs = [r[0] for r in db.execute("SELECT tile_data FROM tiles WHERE zoom_level = ?", (z,))]
        colours = np.concatenate(
            [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).reshape(-1, 3) for b in blobs]
        )
        blue = (colours[:, 2] > 150) & (colours[:, 0] < 90)
        red = (colours[:, 0] > 150) & (colours[:, 2] < 90)
        assert blue.any() and red.any()
    finally:
        store.close()
