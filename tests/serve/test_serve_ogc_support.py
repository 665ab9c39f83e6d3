"""Data and servers for the OGC service tests (imported by the test_serve_ogc_* modules).

The data is built by the real processings (raster pyramid, vector integration, archive copy)
run by the local store's workers on small generated uploads, then published through a real LocalStore.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
import shapely
from pyogrio.raw import write as ogr_write
from rasterio.transform import from_origin

# Lambert-93 origin of the generated data (about 5.3° E, 46.1° N, in the Ain).
X0, Y0 = 870_000.0, 6_570_000.0
RASTER_SIZE = 400  # pixels
RASTER_RES = 5.0  # metres: the raster covers 2 km × 2 km
ZONE_CODES = ["Z01", "Z02", "Z03", "Z04"]
ZONE_DEPS = ["01", "01", "38", "73"]
ZONE_POPS = [1200, 54000, 7, 310]

SLD = b"""<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor version="1.0.0" xmlns="http://www.opengis.net/sld"
    xmlns:ogc="http://www.opengis.net/ogc" xmlns:xlink="http://www.w3.org/1999/xlink">
  <NamedLayer><Name>zones</Name><UserStyle><Name>style_zones</Name><FeatureTypeStyle>
    <Rule><Name>dep01</Name>
      <ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>insee_dep</ogc:PropertyName>
        <ogc:Literal>01</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>
      <PolygonSymbolizer><Fill><CssParameter name="fill">#ff0000</CssParameter></Fill>
        <Stroke><CssParameter name="stroke">#000000</CssParameter></Stroke></PolygonSymbolizer>
    </Rule>
    <Rule><Name>dep38</Name>
      <ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>insee_dep</ogc:PropertyName>
        <ogc:Literal>38</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>
      <PolygonSymbolizer><Fill><CssParameter name="fill">#0000ff</CssParameter></Fill></PolygonSymbolizer>
    </Rule>
  </FeatureTypeStyle></UserStyle></NamedLayer>
</StyledLayerDescriptor>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- inputs ------------------------------------------------------------------------------------
def write_raster(folder: Path) -> Path:
    """One RGB GeoTIFF in EPSG:2154: a 2 km square, never white (so data pixels are recognisable)."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:RASTER_SIZE, 0:RASTER_SIZE]
    red = (60 + (xx * 120) // RASTER_SIZE).astype(np.uint8)
    green = (40 + (yy * 100) // RASTER_SIZE).astype(np.uint8)
    blue = np.full_like(red, 90)
    return write_square(folder / "ortho.tif", np.stack([red, green, blue]))


def write_square(path: Path, bands: np.ndarray) -> Path:
    """``bands`` (C, RASTER_SIZE, RASTER_SIZE) as a uint8 GeoTIFF of the test square in EPSG:2154."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=RASTER_SIZE,
        height=RASTER_SIZE,
        count=len(bands),
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(X0, Y0 + RASTER_SIZE * RASTER_RES, RASTER_RES, RASTER_RES),
    ) as dst:
        dst.write(bands)
    return path


def zone_polygons() -> list[shapely.Polygon]:
    """Four 500 m squares side by side, the last one with a hole."""
    polys = [shapely.box(X0 + i * 500, Y0, X0 + (i + 1) * 500, Y0 + 500) for i in range(4)]
    polys[3] = shapely.Polygon(
        polys[3].exterior.coords, [shapely.box(X0 + 1600, Y0 + 100, X0 + 1900, Y0 + 400).exterior.coords]
    )
    return polys


def write_zones(folder: Path) -> Path:
    """ZONES/ZONES.shp with upper-case fields, as the vector sample has."""
    path = folder / "ZONES" / "ZONES.shp"
    path.parent.mkdir(parents=True, exist_ok=True)
    ogr_write(
        path,
        np.array([shapely.to_wkb(g) for g in zone_polygons()], dtype=object),
        [
            np.array(ZONE_CODES, dtype=object),
            np.array([f"Zone {c}" for c in ZONE_CODES], dtype=object),
            np.array(ZONE_POPS, dtype=np.int64),
            np.array(ZONE_DEPS, dtype=object),
        ],
        ["CODE", "NOM", "POPULATION", "INSEE_DEP"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:2154",
        encoding="UTF-8",
    )
    return path


def write_archive(folder: Path) -> bytes:
    """docs/readme.txt plus a zip; returns the zip's bytes."""
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "readme.txt").write_text("hello archive\n", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data.csv", "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(2000)))
    (folder / "data.zip").write_bytes(buf.getvalue())
    return buf.getvalue()


# -- processings and publication ---------------------------------------------------------------
@dataclass
class Published:
    """What a test needs to reach one published offering."""

    offering: dict[str, Any]
    configuration: dict[str, Any]
    stored_data: dict[str, Any]

    @property
    def layer_name(self) -> str:
        return str(self.configuration["layer_name"])

    @property
    def id(self) -> str:
        return str(self.offering["_id"])


@dataclass
class World:
    """A LocalStore with published offerings and a running server."""

    store: Any
    base_url: str
    offerings: dict[str, Published] = field(default_factory=dict)


# -- the store pipeline: upload → checks → processing → configuration → offering ---------------
def wait_for(predicate: Any, what: str, timeout: float = 120.0) -> Any:
    """Poll until ``predicate()`` returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def deliver(store: Any, folder: Path, name: str, upload_type: str) -> dict[str, Any]:
    """Push every file of ``folder`` as an upload, close it and wait for its checks to pass."""
    up = store.create_entity(
        "upload", {"name": name, "description": name, "type": upload_type, "srs": "EPSG:2154"}
    )
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        store.upload_push_file(up["_id"], path, rel)
        lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel}\n")
    md5 = folder.parent / f"{folder.name}.md5"
    md5.write_text("".join(lines), encoding="utf-8")
    store.upload_push_md5(up["_id"], md5)
    store.upload_close(up["_id"])
    status = wait_for(
        lambda: (s := store.get_entity("upload", up["_id"])["status"]) != "CHECKING" and s,
        f"checks of {name}",
    )
    assert status == "CLOSED", (status, store.upload_checks(up["_id"]).as_dict())
    return dict(store.get_entity("upload", up["_id"]))


def process(
    store: Any, processing: str, upload: Mapping[str, Any], output: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Run one processing of the catalog on an upload through the store; the output stored data."""
    from gpf_flow.processings.base import processing_id

    ex = store.create_processing_execution(
        {
            "processing": processing_id(processing),
            "inputs": {"upload": [upload["_id"]]},
            "output": {"stored_data": {"name": output}},
            "parameters": dict(params),
        }
    )
    store.launch_processing_execution(ex["_id"])
    status = wait_for(
        lambda: (
            (s := store.get_entity("processing_execution", ex["_id"])["status"])
            in ("SUCCESS", "FAILURE", "ABORTED")
            and s
        ),
        f"execution of {processing}",
    )
    assert status == "SUCCESS", store.processing_execution_logs(ex["_id"])
    return dict(store.get_entity("stored_data", ex["output"]["stored_data"]["_id"]))


def publish(
    store: Any, conf_type: str, layer_name: str, type_infos: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A configuration and its offering on the datastore's endpoint of that type."""
    from gpf_flow.store.base import endpoints_of

    conf = store.create_entity(
        "configuration",
        {"type": conf_type, "name": layer_name, "layer_name": layer_name, "type_infos": dict(type_infos)},
    )
    endpoint = next(e for e in endpoints_of(store.get_datastore()) if e["type"] == conf_type)
    offering = store.create_offering(conf["_id"], {"endpoint": endpoint["_id"], "open": True})
    wait_for(
        lambda: store.get_entity("offering", offering["_id"])["status"] == "PUBLISHED",
        f"offering {layer_name}",
    )
    return dict(conf), dict(store.get_entity("offering", offering["_id"]))


RASTER_PROCESSING = "Calcul ou mise à jour de pyramide raster"
VECTOR_PROCESSING = "Intégration de données vecteur livrées en base"
ARCHIVE_PROCESSING = "Recopie d'une archive livrée"


def build_world(
    store: Any, tmp: Path, base_url: str, parts: tuple[str, ...] = ("raster", "vector", "archive")
) -> World:
    """Deliver, process and publish one offering of every service type of ``parts``."""
    world = World(store=store, base_url=base_url)
    items: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = []
    if "raster" in parts:
        raster_up = deliver(store, _filled(tmp / "raster", write_raster), "OGC_RASTER", "RASTER")
        png = process(store, RASTER_PROCESSING, raster_up, "ogc_pyramid_png", {"compression": "png"})
        jpg = process(store, RASTER_PROCESSING, raster_up, "ogc_pyramid_jpg", {"compression": "jpg"})
        items += [
            (
                "wms_r",
                "WMS-RASTER",
                "ortho_png",
                png,
                {"used_data": [{"stored_data": png["_id"]}], "getfeatureinfo": {"stored_data": True}},
            ),
            ("wms_r_jpg", "WMS-RASTER", "ortho_jpg", jpg, {"used_data": [{"stored_data": jpg["_id"]}]}),
            ("wmts", "WMTS-TMS", "ortho_tiles", jpg, {"used_data": [{"stored_data": jpg["_id"]}]}),
        ]
    if "vector" in parts:
        vector_up = deliver(store, _filled(tmp / "vector", write_zones), "OGC_VECTOR", "VECTOR")
        vdb = process(store, VECTOR_PROCESSING, vector_up, "ogc_vector_db", {})
        sld = tmp / "style_zones.sld"
        sld.write_bytes(SLD)
        static = store.create_static(sld, "style_zones", "GEOSERVER-STYLE")
        styled = {
            "used_data": [
                {"stored_data": vdb["_id"], "relations": [{"name": "zones", "style": static["_id"]}]}
            ]
        }
        plain = {
            "used_data": [{"stored_data": vdb["_id"], "relations": [{"name": "zones"}]}],
            "getfeatureinfo": False,
        }
        relation = {"native_name": "zones", "public_name": "zones", "title": "Zones"}
        wfs = {"used_data": [{"stored_data": vdb["_id"], "relations": [relation]}]}
        items += [
            ("wms_v", "WMS-VECTOR", "zones_styled", vdb, styled),
            ("wms_v_default", "WMS-VECTOR", "zones_plain", vdb, plain),
            ("wfs", "WFS", "zones_wfs", vdb, wfs),
        ]
    if "archive" in parts:
        archive_up = deliver(store, _filled(tmp / "archive", write_archive), "OGC_ARCHIVE", "ARCHIVE")
        arc = process(store, ARCHIVE_PROCESSING, archive_up, "ogc_archive", {})
        items.append(
            (
                "download",
                "DOWNLOAD",
                "archive_dl",
                arc,
                {"used_data": [{"stored_data": arc["_id"], "sub_name": "docs"}]},
            )
        )
    for key, conf_type, layer, stored, infos in items:
        conf, offering = publish(store, conf_type, layer, infos)
        world.offerings[key] = Published(offering=offering, configuration=conf, stored_data=stored)
    return world


def _filled(folder: Path, writer: Any) -> Path:
    writer(folder)
    return folder


def data_bbox(crs: str) -> tuple[float, float, float, float]:
    """The generated raster's extent (x/y order) in ``crs``."""
    from pyproj import Transformer

    box = (X0, Y0, X0 + RASTER_SIZE * RASTER_RES, Y0 + RASTER_SIZE * RASTER_RES)
    if crs == "EPSG:2154":
        return box
    x0, y0, x1, y1 = Transformer.from_crs("EPSG:2154", crs, always_xy=True).transform_bounds(*box)
    return float(x0), float(y0), float(x1), float(y1)


# -- preview pages in headless Chromium ----------------------------------------------------------
def chromium() -> str:
    """Debian's chromium (skips the test when it is not installed)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    return path


def check_preview(offering: Mapping[str, Any], profile: Path) -> str:
    """Load an offering's preview page in headless Chromium; asserts its map loaded; returns <body>."""
    preview = next(u["url"] for u in offering["urls"] if u["type"] == "PREVIEW")
    page = httpx.get(preview).text
    # Nothing from the internet: every script, style and image is from this server.
    assert not re.search(r"""(src|href)=["']https?://""", page)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
    ]  # fmt: skip
    # Virtual time lets the page's map images load before the DOM is dumped.
    result = subprocess.run(
        [chromium(), *flags, "--virtual-time-budget=15000", "--dump-dom", preview],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    dom = result.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:2000]
    assert 'data-map-loaded="true"' in body.group(0), dom[:2000]
    assert "data-tile-errors" not in body.group(0)
    return body.group(0) + dom
