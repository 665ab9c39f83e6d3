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


CANTON_SLD = b"""<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor version="1.0.0" xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc">
  <NamedLayer><Name>canton</Name><UserStyle><Name>style_canton</Name><FeatureTypeStyle><Rule>
    <PolygonSymbolizer><Fill><CssParameter name="fill">#ff0000</CssParameter></Fill></PolygonSymbolizer>
  </Rule></FeatureTypeStyle></UserStyle></NamedLayer>
</StyledLayerDescriptor>
"""


def write_cantons(folder: Path) -> Path:
    """canton/canton.shp: two squares of a few km inside the official workflow's harvest area (Paris)."""
    import shapely
    from pyogrio.raw import write as ogr_write
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(2.35, 48.85)
    squares = [
        shapely.box(x - 4000, y - 2000, x, y + 2000),
        shapely.box(x + 2000, y - 2000, x + 6000, y + 2000),
    ]
    path = folder / "canton" / "canton.shp"
    path.parent.mkdir(parents=True)
    ogr_write(
        path,
        np.array([shapely.to_wkb(g) for g in squares], dtype=object),
        [np.array(["C1", "C2"], dtype=object)],
        ["CODE"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:2154",
        encoding="UTF-8",
    )
    return folder


@pytest.mark.slow
def test_generic_moissonnage_runs_whole_against_our_wms(make_server, tmp_path: Path) -> None:
    server = make_server()
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        deliver(store, write_cantons(tmp_path / "vector"), "EXAMPLE_DATASET_VECTOR", "VECTOR")
        sld = tmp_path / "style_canton.sld"
        sld.write_bytes(CANTON_SLD)
        store.create_static(sld, "style_canton", "GEOSERVER-STYLE")
    finally:
        store.close()
    official = (OFFICIAL / "generic_moissonnage.jsonc").read_text(encoding="utf-8")
    remote = "https://geoplateforme-gpf-geoserver-wms-v.qua.gpf-tech.ign.fr/geoserver/ows"
    assert remote in official
    workflow = tmp_path / "generic_moissonnage.jsonc"
    workflow.write_text(official.replace(remote, f"{server.base_url}/wms-v"), encoding="utf-8")
    done = gpf_flow(server.home, "run", str(workflow))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:] + server.log()[-3000:]
    store = LocalStore(server.home)
    try:
        stored = {d["name"].split("__")[-1]: d for d in store.list_entities("stored_data", limit=50).items}
        harvested = stored["moissonnage_cantons"]
        assert harvested["status"] == "GENERATED" and harvested["type"] == "ROK4-PYRAMID-RASTER"
        assert harvested["type_infos"]["bottom_level"] == "14"
        offerings = store.list_entities("offering", limit=50).items
        assert sorted(o["type"] for o in offerings) == ["WMS-RASTER", "WMS-VECTOR"]
        assert {o["status"] for o in offerings} == {"PUBLISHED"}
        path = store.stored_data_dir(harvested["_id"]) / "pyramid.mbtiles"
        with sqlite3.connect(path) as db:
            levels = {z for (z,) in db.execute("SELECT DISTINCT zoom_level FROM tiles")}
            blobs = [r[0] for r in db.execute("SELECT tile_data FROM tiles WHERE zoom_level = 14")]
        assert {10, 14} <= levels
        colours = np.concatenate(
            [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).reshape(-1, 3) for b in blobs]
        )
        # the cantons in red (the rest is white: the workflow harvests image/jpeg, which has no alpha)
        assert ((colours[:, 0] > 200) & (colours[:, 1] < 60)).mean() > 0.01
    finally:
        store.close()


def ortho_5cm(folder: Path, colour: tuple[int, int, int], dx: float) -> Path:
    """A 20 m × 20 m orthophoto at 5 cm (the resolution PCRS pyramids are built for)."""
    folder.mkdir(parents=True)
    data = np.stack([np.full((400, 400), c, dtype=np.uint8) for c in colour])
    profile = {"driver": "GTiff", "width": 400, "height": 400, "count": 3, "dtype": "uint8"}
    transform = Affine(0.05, 0, 651_000.0 + dx, 0, -0.05, 6_862_000.0)
    with rasterio.open(folder / "ortho.tif", "w", crs="EPSG:2154", transform=transform, **profile) as dst:
        dst.write(data)
    return folder


@pytest.mark.slow
def test_pcrs_builds_publishes_and_updates_on_2154_5cm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = LocalStore(home)
    try:
        deliver(store, ortho_5cm(tmp_path / "v1", (200, 40, 40), 0.0), "CHANTIER", "RASTER")
        new = deliver(store, ortho_5cm(tmp_path / "v2", (40, 40, 200), 10.0), "CHANTIER_v2", "RASTER")
        store.add_tags("upload", new["_id"], {"version": "2"})
    finally:
        store.close()
    params = ["-p", "producteur", "CHANTIER", "-p", "old_version", "", "-p", "new_version", "2"]
    for step in ("pyramide", "publication", "pyramide_maj", "publication_maj"):
        done = gpf_flow(home, "run", str(OFFICIAL / "PCRS.jsonc"), "--step", step, *params)
        assert done.returncode == 0, (step, done.stdout[-4000:] + done.stderr[-4000:])
    store = LocalStore(home)
    try:
        stored = {d["name"]: d for d in store.list_entities("stored_data", limit=50).items}
        assert {"CHANTIER", "CHANTIER2"} <= set(stored)
        for data in stored.values():
            assert data["status"] == "GENERATED" and data["type_infos"]["tms"] == "2154_5cm"
            assert data["type_infos"]["bottom_level"] == "22"  # 5 cm, the level nearest the data
        confs = store.list_entities("configuration", limit=50).items
        used = {c["name"]: [u["stored_data"] for u in c["type_infos"]["used_data"]] for c in confs}
        assert used == {n: [stored["CHANTIER2"]["_id"]] for n in ("CHANTIER_WMTS", "CHANTIER_WMSR")}
        offerings = store.list_entities("offering", limit=50).items
        assert {o["status"] for o in offerings} == {"PUBLISHED"} and len(offerings) == 2
        path = store.stored_data_dir(stored["CHANTIER2"]["_id"]) / "pyramid.mbtiles"
        with sqlite3.connect(path) as db:
            blobs = [r[0] for r in db.execute("SELECT tile_data FROM tiles WHERE zoom_level = 22")]
        colours = np.concatenate(
            [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).reshape(-1, 3) for b in blobs]
        )
        # the update: the new (blue) data over the old (red) pyramid, which is kept elsewhere
        assert ((colours[:, 2] > 150) & (colours[:, 0] < 90)).any()
        assert ((colours[:, 0] > 150) & (colours[:, 2] < 90)).any()
    finally:
        store.close()
