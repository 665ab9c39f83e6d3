"""WFS 1.0.0/1.1.0/2.0.0 and WMS-VECTOR 1.1.1/1.3.0 read by OWSLib and GDAL, checked against the source.

The data is integrated by the real processing ("Intégration de données vecteur livrées en base")
from generated files (zones polygons and typed site points) and published through a real
LocalStore behind a real ``gpf-flow serve``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
import shapely
from lxml import etree
from owslib.wfs import WebFeatureService
from owslib.wms import WebMapService
from PIL import Image
from pyogrio.raw import read as ogr_read
from pyogrio.raw import write as ogr_write
from pyproj import Transformer
from test_serve_ogc_support import SLD, X0, Y0, ZONE_CODES, World, deliver, process, publish, write_zones

from gpf_flow.store.local import LocalStore

VECTOR_PROCESSING = "Intégration de données vecteur livrées en base"
ZONES_BOX = (X0, Y0, X0 + 2000, Y0 + 500)
KINDS = ["ecole", "mairie", "gare", "poste"]
N_SITES = 48
ZONES = "vt_wfs:zones"
SITES = "vt_wfs:sites"
GML_NS = "http://www.opengis.net/gml"
GML32_NS = "http://www.opengis.net/gml/3.2"


def site_rows() -> list[dict[str, Any]]:
    """The generated sites, as the tests expect to read them back."""
    rows = []
    for k in range(N_SITES):
        i, j = k % 8, k // 8
        rows.append(
            {
                "fid": k + 1,
                "x": X0 + 125 + 250 * i,
                "y": Y0 + 50 + 80 * j,
                "name": ("Site" if k % 3 else "site") + f" {k:02d}",
                "kind": KINDS[k % 4],
                "rank": (k * 7) % 50,
                "score": k * 1.5,
                "note": None if k % 5 == 0 else f"note {k}",
                "active": k % 2 == 0,
            }
        )
    return rows


def write_sites(folder: Path) -> Path:
    rows = site_rows()
    path = folder / "sites.gpkg"
    note = np.empty(len(rows), dtype=object)
    note[:] = [r["note"] for r in rows]
    ogr_write(
        path,
        np.array([shapely.to_wkb(shapely.Point(r["x"], r["y"])) for r in rows], dtype=object),
        [
            np.array([r["name"] for r in rows], dtype=object),
            np.array([r["kind"] for r in rows], dtype=object),
            np.array([r["rank"] for r in rows], dtype=np.int32),
            np.array([r["score"] for r in rows], dtype=np.float64),
            note,
            np.array([r["active"] for r in rows], dtype=bool),
        ],
        ["NAME", "KIND", "RANK", "SCORE", "NOTE", "ACTIVE"],
        driver="GPKG",
        layer="SITES",
        geometry_type="Point",
        crs="EPSG:2154",
    )
    return path


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(server.home, public_url=server.base_url)
    tmp = tmp_path_factory.mktemp("ogc-vector-clients")
    try:
        folder = tmp / "vector"
        write_zones(folder)
        write_sites(folder)
        upload = deliver(store, folder, "VT", "VECTOR")
        vdb = process(store, VECTOR_PROCESSING, upload, "vt_db", {})
        sld = tmp / "style_zones.sld"
        sld.write_bytes(SLD)
        static = store.create_static(sld, "style_zones", "GEOSERVER-STYLE")
        wfs_rel = [
            {"native_name": "zones", "public_name": "zones", "title": "Zones"},
            {"native_name": "sites", "public_name": "sites", "title": "Sites"},
        ]
        world = World(store=store, base_url=server.base_url)
        publish(store, "WFS", "vt_wfs", {"used_data": [{"stored_data": vdb["_id"], "relations": wfs_rel}]})
        only_zones = {"used_data": [{"stored_data": vdb["_id"], "relations": wfs_rel[:1]}]}
        publish(store, "WFS", "vt_other", only_zones)
        styled = [{"name": "zones", "style": static["_id"]}]
        publish(
            store, "WMS-VECTOR", "vt_zones", {"used_data": [{"stored_data": vdb["_id"], "relations": styled}]}
        )
        sites = [{"name": "sites"}]
        publish(
            store, "WMS-VECTOR", "vt_sites", {"used_data": [{"stored_data": vdb["_id"], "relations": sites}]}
        )
        yield world
    finally:
        store.close()


def wfs_get(world: World, version: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{world.base_url}/wfs",
        params={"SERVICE": "WFS", "VERSION": version, "REQUEST": "GetFeature", **params},
        timeout=60,
    )


def wfs_json(world: World, version: str, **params: Any) -> dict[str, Any]:
    response = wfs_get(world, version, OUTPUTFORMAT="application/json", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def names_of(doc: dict[str, Any]) -> list[str]:
    return [f["properties"]["name"] for f in doc["features"]]


# -- WFS, every version -------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_owslib_reads_every_wfs_version(world: World, version: str) -> None:
    service = WebFeatureService(f"{world.base_url}/wfs", version=version)
    assert {ZONES, SITES} <= set(service.contents)
    assert service.contents[SITES].title == "Sites"
    schema = service.get_schema(SITES)
    assert set(schema["properties"]) == {"name", "kind", "rank", "score", "note", "active"}
    assert schema["properties"]["rank"] in ("int", "integer")
    assert schema["properties"]["score"] in ("double", "float", "number")
    assert schema["properties"]["active"] == "boolean"
    assert schema["geometry"] in ("MultiPoint", "Point", "GeometryCollection")
    body = service.getfeature(typename=[ZONES]).read()
    root = etree.fromstring(body)
    assert etree.QName(root).localname == "FeatureCollection"
    gml = GML32_NS if version == "2.0.0" else GML_NS
    polygons = root.findall(f".//{{{gml}}}Polygon")
    assert len(polygons) == 4
    if version == "1.0.0":
        assert root.find(f".//{{{GML_NS}}}coordinates") is not None  # GML 2
        ids = [f.get("fid") for f in root.iter("{urn:gpf-flow:wfs:vt_wfs}zones")]
    else:
        assert root.find(f".//{{{gml}}}posList") is not None  # GML 3
        ids = [f.get(f"{{{gml}}}id") for f in root.iter("{urn:gpf-flow:wfs:vt_wfs}zones")]
    assert ids == ["zones.1", "zones.2", "zones.3", "zones.4"]
    codes = [e.text for e in root.iter("{urn:gpf-flow:wfs:vt_wfs}code")]
    assert codes == ZONE_CODES


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_gml_read_back_by_gdal_matches_the_source(world: World, version: str, tmp_path: Path) -> None:
    response = wfs_get(world, version, TYPENAME=SITES, SRSNAME="EPSG:2154")
    assert response.status_code == 200, response.text
    path = tmp_path / "sites.gml"
    path.write_bytes(response.content)
    meta, fids, wkb, values = ogr_read(path, return_fids=True)
    got = dict(zip(meta["fields"], values, strict=True))
    rows = site_rows()
    assert list(got["name"]) == [r["name"] for r in rows]
    assert [int(v) for v in got["rank"]] == [r["rank"] for r in rows]
    points = shapely.from_wkb(wkb)
    assert np.allclose(shapely.get_coordinates(points), [[r["x"], r["y"]] for r in rows])


@pytest.mark.parametrize(
    ("version", "srs", "first"),
    [
        ("1.0.0", "EPSG:4326", "lon"),
        ("1.1.0", "EPSG:4326", "lon"),
        ("1.1.0", "urn:ogc:def:crs:EPSG::4326", "lat"),
        ("2.0.0", "urn:ogc:def:crs:EPSG::4326", "lat"),
        ("2.0.0", "http://www.opengis.net/def/crs/EPSG/0/4326", "lat"),
    ],
)
def test_gml_axis_order_of_each_version(world: World, version: str, srs: str, first: str) -> None:
    response = wfs_get(world, version, TYPENAME=SITES, SRSNAME=srs, RESOURCEID="sites.1", FEATUREID="sites.1")
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    features = list(root.iter("{urn:gpf-flow:wfs:vt_wfs}sites"))
    pos = [e.text for f in features for e in f.iter() if etree.QName(e).localname in ("pos", "coordinates")]
    assert len(pos) == 1
    a, b = (float(v) for v in pos[0].replace(",", " ").split()[:2])
    lon, lat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform(X0 + 125, Y0 + 50)
    assert (a, b) == pytest.approx((lon, lat) if first == "lon" else (lat, lon), abs=1e-7)


@pytest.mark.parametrize(
    ("version", "bbox"),
    [
        ("1.0.0", "{x0},{y0},{x1},{y1},EPSG:4326"),
        ("1.1.0", "{y0},{x0},{y1},{x1},urn:ogc:def:crs:EPSG::4326"),
        ("1.1.0", "{x0},{y0},{x1},{y1},EPSG:4326"),
        ("2.0.0", "{y0},{x0},{y1},{x1},urn:ogc:def:crs:EPSG::4326"),
    ],
)
def test_bbox_in_the_axis_order_of_each_version(world: World, version: str, bbox: str) -> None:
    # Sites of the first row west of x0 + 700: k = 0, 1, 2.
    native = (X0, Y0, X0 + 700, Y0 + 60)
    x0, y0, x1, y1 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform_bounds(*native)
    text = bbox.format(x0=x0, y0=y0, x1=x1, y1=y1)
    doc = wfs_json(world, version, TYPENAME=SITES, BBOX=text)
    assert names_of(doc) == ["site 00", "Site 01", "Site 02"]


FES = 'xmlns:fes="http://www.opengis.net/fes/2.0"'
OGC = 'xmlns:ogc="http://www.opengis.net/ogc"'


def fes(body: str, version: str) -> str:
    """A filter in the namespace and property element of the version."""
    if version == "2.0.0":
        return f"<fes:Filter {FES}>{body}</fes:Filter>"
    text = body.replace("fes:ValueReference", "ogc:PropertyName").replace("fes:", "ogc:")
    return f"<ogc:Filter {OGC}>{text}</ogc:Filter>"


def cmp(op: str, prop: str, value: Any, extra: str = "") -> str:
    return (
        f"<fes:{op}{extra}><fes:ValueReference>{prop}</fes:ValueReference>"
        f"<fes:Literal>{value}</fes:Literal></fes:{op}>"
    )


LIKE = ' wildCard="*" singleChar="." escapeChar="!"'
EQ, LT, GT = "PropertyIsEqualTo", "PropertyIsLessThan", "PropertyIsGreaterThan"
FILTER_CASES: list[tuple[str, Any]] = [
    (cmp("PropertyIsEqualTo", "kind", "gare"), lambda r: r["kind"] == "gare"),
    (cmp("PropertyIsNotEqualTo", "kind", "gare"), lambda r: r["kind"] != "gare"),
    (cmp("PropertyIsLessThan", "rank", 10), lambda r: r["rank"] < 10),
    (cmp("PropertyIsGreaterThanOrEqualTo", "score", 60.5), lambda r: r["score"] >= 60.5),
    (cmp("PropertyIsLike", "name", "site*", LIKE),
     lambda r: r["name"].startswith("site")),
    (cmp("PropertyIsLike", "name", "site 1.", LIKE + ' matchCase="false"'),
     lambda r: r["name"].lower().startswith("site 1") and len(r["name"]) == 7),
    (cmp("PropertyIsEqualTo", "active", "true"), lambda r: r["active"]),
    ("<fes:PropertyIsNull><fes:ValueReference>note</fes:ValueReference></fes:PropertyIsNull>",
     lambda r: r["note"] is None),
    ("<fes:And>" + cmp(EQ, "kind", "ecole") + cmp(GT, "rank", 20) + "</fes:And>",
     lambda r: r["kind"] == "ecole" and r["rank"] > 20),
    ("<fes:Or>" + cmp(EQ, "kind", "poste") + cmp(LT, "rank", 5) + "</fes:Or>",
     lambda r: r["kind"] == "poste" or r["rank"] < 5),
    ("<fes:Not>" + cmp("PropertyIsEqualTo", "kind", "ecole") + "</fes:Not>", lambda r: r["kind"] != "ecole"),
    ("<fes:PropertyIsBetween><fes:ValueReference>rank</fes:ValueReference>"
     "<fes:LowerBoundary><fes:Literal>10</fes:Literal></fes:LowerBoundary>"
     "<fes:UpperBoundary><fes:Literal>20</fes:Literal></fes:UpperBoundary></fes:PropertyIsBetween>",
     lambda r: 10 <= r["rank"] <= 20),
]  # fmt: skip


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
@pytest.mark.parametrize("case", range(len(FILTER_CASES)))
def test_filters_match_the_source(world: World, version: str, case: int) -> None:
    body, predicate = FILTER_CASES[case]
    doc = wfs_json(world, version, TYPENAME=SITES, FILTER=fes(body, version))
    expected = [r["name"] for r in site_rows() if predicate(r)]
    assert expected and len(expected) < N_SITES  # every case selects something, not everything
    assert names_of(doc) == expected


def test_owslib_filter_and_bbox_filter(world: World) -> None:
    service = WebFeatureService(f"{world.base_url}/wfs", version="1.1.0")
    flt = fes(cmp("PropertyIsEqualTo", "kind", "mairie"), "1.1.0")
    doc = json.loads(service.getfeature(typename=[SITES], filter=flt, outputFormat="application/json").read())
    assert names_of(doc) == [r["name"] for r in site_rows() if r["kind"] == "mairie"]
    # A BBOX operator inside an And, the envelope in EPSG:2154.
    spatial = (
        "<fes:And>" + cmp("PropertyIsEqualTo", "active", "false")
        + "<fes:BBOX><fes:ValueReference>geom</fes:ValueReference>"
        f'<gml:Envelope xmlns:gml="{GML32_NS}" srsName="urn:ogc:def:crs:EPSG::2154">'
        f"<gml:lowerCorner>{X0} {Y0}</gml:lowerCorner>"
        f"<gml:upperCorner>{X0 + 1000} {Y0 + 150}</gml:upperCorner>"
        "</gml:Envelope></fes:BBOX></fes:And>"
    )  # fmt: skip
    doc = wfs_json(world, "2.0.0", TYPENAMES=SITES, FILTER=fes(spatial, "2.0.0"))
    expected = [
        r["name"] for r in site_rows() if not r["active"] and r["x"] <= X0 + 1000 and r["y"] <= Y0 + 150
    ]
    assert names_of(doc) == expected and len(expected) == 4


def test_owslib_20_filter(world: World) -> None:
    service = WebFeatureService(f"{world.base_url}/wfs", version="2.0.0")
    flt = fes(cmp("PropertyIsGreaterThan", "rank", 40), "2.0.0")
    doc = json.loads(service.getfeature(typename=[SITES], filter=flt, outputFormat="application/json").read())
    assert names_of(doc) == [r["name"] for r in site_rows() if r["rank"] > 40]


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_describe_everything_imports_one_schema_per_layer(world: World, version: str) -> None:
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "DescribeFeatureType"}
    root = etree.fromstring(httpx.get(f"{world.base_url}/wfs", params=params).content)
    imports = {e.get("namespace"): e.get("schemaLocation") for e in root}
    assert set(imports) == {"urn:gpf-flow:wfs:vt_wfs", "urn:gpf-flow:wfs:vt_other"}
    schema = etree.fromstring(httpx.get(imports["urn:gpf-flow:wfs:vt_wfs"]).content)
    assert schema.get("targetNamespace") == "urn:gpf-flow:wfs:vt_wfs"
    xsd = "{http://www.w3.org/2001/XMLSchema}element"
    assert [e.get("name") for e in schema.findall(xsd)] == ["zones", "sites"]


def test_sort_and_paging_match_the_source(world: World) -> None:
    rows = sorted(site_rows(), key=lambda r: (-r["rank"], r["name"]))
    everything = wfs_json(world, "2.0.0", TYPENAMES=SITES, SORTBY="rank DESC,name ASC")
    assert names_of(everything) == [r["name"] for r in rows]
    pages = [
        wfs_json(world, "2.0.0", TYPENAMES=SITES, SORTBY="rank DESC,name ASC", COUNT=10, STARTINDEX=start)
        for start in range(0, N_SITES, 10)
    ]
    assert all(p["numberMatched"] == N_SITES for p in pages)
    assert [n for p in pages for n in names_of(p)] == [r["name"] for r in rows]
    v11 = wfs_json(world, "1.1.0", TYPENAME=SITES, SORTBY="score D", MAXFEATURES=3)
    assert names_of(v11) == [r["name"] for r in sorted(site_rows(), key=lambda r: -r["score"])[:3]]
    v10 = wfs_json(world, "1.0.0", TYPENAME=SITES, MAXFEATURES=5)
    assert names_of(v10) == [r["name"] for r in site_rows()[:5]]
    owslib = WebFeatureService(f"{world.base_url}/wfs", version="2.0.0")
    page = json.loads(
        owslib.getfeature(
            typename=[SITES],
            maxfeatures=4,
            startindex=8,
            sortby=["name DESC"],
            outputFormat="application/json",
        ).read()
    )
    assert (
        names_of(page)
        == [r["name"] for r in sorted(site_rows(), key=lambda r: r["name"], reverse=True)][8:12]
    )
    hits = etree.fromstring(wfs_get(world, "1.1.0", TYPENAME=SITES, RESULTTYPE="hits").content)
    assert hits.get("numberOfFeatures") == str(N_SITES)


def test_property_names_and_srsname(world: World) -> None:
    doc = wfs_json(world, "2.0.0", TYPENAMES=SITES, PROPERTYNAME="name,rank", SRSNAME="EPSG:3857", COUNT=3)
    assert [set(f["properties"]) for f in doc["features"]] == [{"name", "rank"}] * 3
    to_3857 = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    for feature, row in zip(doc["features"], site_rows(), strict=False):
        [xy] = feature["geometry"]["coordinates"]  # points are integrated as MultiPoint
        assert xy == pytest.approx(list(to_3857.transform(row["x"], row["y"])))
    assert doc["crs"]["properties"]["name"] == "EPSG:3857"


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_gdal_wfs_driver_reads_every_version(world: World, version: str) -> None:
    url = f"WFS:{world.base_url}/wfs?VERSION={version}"
    meta, fids, wkb, values = ogr_read(url, layer=SITES)
    got = dict(zip(meta["fields"], values, strict=True))
    rows = site_rows()
    assert sorted(got["name"]) == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    for name, rank, geom in zip(got["name"], got["rank"], shapely.from_wkb(wkb), strict=True):
        assert int(rank) == by_name[name]["rank"]
        assert geom is not None
    meta, _, wkb, values = ogr_read(url, layer=ZONES, where="code = 'Z03'")
    assert list(values[list(meta["fields"]).index("code")]) == ["Z03"]


def test_gdal_wfs_driver_negotiates_and_pages(world: World) -> None:
    from pyogrio import get_gdal_config_option, set_gdal_config_options

    before = {k: get_gdal_config_option(k) for k in ("OGR_WFS_PAGING_ALLOWED", "OGR_WFS_PAGE_SIZE")}
    set_gdal_config_options({"OGR_WFS_PAGING_ALLOWED": "ON", "OGR_WFS_PAGE_SIZE": "10"})
    try:
        meta, _, _, values = ogr_read(f"WFS:{world.base_url}/wfs", layer=SITES)
    finally:
        set_gdal_config_options(before)
    names = list(values[list(meta["fields"]).index("name")])
    assert sorted(names) == sorted(r["name"] for r in site_rows())


# -- WMS-VECTOR, both versions ----------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_owslib_reads_both_wms_versions(world: World, version: str) -> None:
    service = WebMapService(f"{world.base_url}/wms-v", version=version)
    assert service.identification.version == version
    layer = service["vt_zones"]
    assert "style_zones" in layer.styles
    assert layer.styles["style_zones"].get("legend")
    assert layer.queryable == 1
    lon0, lat0, lon1, lat1 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform_bounds(
        *ZONES_BOX
    )
    w, s, e, n = layer.boundingBoxWGS84
    assert (w, s, e, n) == pytest.approx((lon0, lat0, lon1, lat1), abs=1e-6)
    # EPSG:4326 maps: OWSLib sends lon/lat in 1.1.1 and swaps them to lat/lon in 1.3.0.
    img = service.getmap(
        layers=["vt_zones"],
        srs="EPSG:4326",
        bbox=(lon0, lat0, lon1, lat1),
        size=(400, 100),
        format="image/png",
        transparent=True,
    )
    pixels = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
    assert tuple(pixels[50, 50]) == (255, 0, 0, 255) and tuple(pixels[50, 250]) == (0, 0, 255, 255)
    assert pixels[50, 350, 3] == 0


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_gdal_wms_driver_reads_both_versions(world: World, version: str, tmp_path: Path) -> None:
    lon0, lat0, lon1, lat1 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform_bounds(
        *ZONES_BOX
    )
    # GDAL sends x/y unless told the server's order: 1.3.0 servers want lat/lon for EPSG:4326.
    order = "<BBoxOrder>yxYX</BBoxOrder>" if version == "1.3.0" else ""
    description = f"""<GDAL_WMS>
  <Service name="WMS"><Version>{version}</Version><ServerUrl>{world.base_url}/wms-v?</ServerUrl>
    <SRS>EPSG:4326</SRS><CRS>EPSG:4326</CRS><ImageFormat>image/png</ImageFormat><Layers>vt_zones</Layers>
    <Transparent>TRUE</Transparent>{order}</Service>
  <DataWindow><UpperLeftX>{lon0}</UpperLeftX><UpperLeftY>{lat1}</UpperLeftY>
    <LowerRightX>{lon1}</LowerRightX><LowerRightY>{lat0}</LowerRightY><SizeX>400</SizeX><SizeY>100</SizeY></DataWindow>
  <BlockSizeX>400</BlockSizeX><BlockSizeY>100</BlockSizeY><BandsCount>4</BandsCount><Cache/>
</GDAL_WMS>"""
    # GDAL's own reading of the capabilities: one subdataset per layer, in this version.
    with rasterio.open(
        f"WMS:{world.base_url}/wms-v?SERVICE=WMS&VERSION={version}&REQUEST=GetCapabilities"
    ) as caps:
        layers = [sub for sub in caps.subdatasets if f"VERSION={version}" in sub]
    assert {sub.split("LAYERS=")[1].split("&")[0] for sub in layers} == {"vt_zones", "vt_sites"}
    path = tmp_path / "wms.xml"
    path.write_text(description.replace("<Cache/>", f"<Cache><Path>{tmp_path / 'cache'}</Path></Cache>"))
    with rasterio.open(path) as src:
        data = src.read()
    assert data.shape == (4, 100, 400)
    assert tuple(data[:, 50, 50]) == (255, 0, 0, 255) and tuple(data[:, 50, 250]) == (0, 0, 255, 255)
    assert data[3, 50, 350] == 0


def feature_info(
    world: World, version: str, fmt: str, layer: str, x: int, y: int, count: int = 1
) -> httpx.Response:
    params = {
        "SERVICE": "WMS", "VERSION": version, "REQUEST": "GetFeatureInfo", "LAYERS": layer,
        "QUERY_LAYERS": layer, "STYLES": "", "BBOX": ",".join(map(str, ZONES_BOX)),
        "WIDTH": "400", "HEIGHT": "100", "INFO_FORMAT": fmt, "FEATURE_COUNT": str(count),
        ("CRS" if version == "1.3.0" else "SRS"): "EPSG:2154",
        ("I" if version == "1.3.0" else "X"): str(x), ("J" if version == "1.3.0" else "Y"): str(y),
    }  # fmt: skip
    return httpx.get(f"{world.base_url}/wms-v", params=params, timeout=60)


def pixel_of(row: dict[str, Any]) -> tuple[int, int]:
    """The pixel of a site in the 400x100 map of ZONES_BOX."""
    return int((row["x"] - X0) / 5), int((Y0 + 500 - row["y"]) / 5)


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_getfeatureinfo_values_match_the_source(world: World, version: str) -> None:
    row = site_rows()[19]
    x, y = pixel_of(row)
    doc = feature_info(world, version, "application/json", "vt_sites", x, y).json()
    assert [f["id"] for f in doc["features"]] == [f"sites.{row['fid']}"]
    props = doc["features"][0]["properties"]
    assert {k: props[k] for k in ("name", "kind", "rank", "score", "note", "active")} == {
        k: row[k] for k in ("name", "kind", "rank", "score", "note", "active")
    }
    text = feature_info(world, version, "text/plain", "vt_sites", x, y).text
    assert f"name = {row['name']}" in text and f"rank = {row['rank']}" in text
    html = feature_info(world, version, "text/html", "vt_sites", x, y).text
    assert f"<td>{row['name']}</td>" in html
    for fmt in ("application/vnd.ogc.gml", "application/vnd.ogc.gml/3.1.1"):
        response = feature_info(world, version, fmt, "vt_sites", x, y)
        assert response.status_code == 200, response.text
        root = etree.fromstring(response.content)
        values = {
            etree.QName(e).localname: e.text
            for e in root.iter()
            if etree.QName(e).namespace.startswith("urn:")
        }
        assert values["name"] == row["name"] and values["rank"] == str(row["rank"])
        assert values["active"] == "false" and values["score"] == repr(row["score"])
    # A zone: the polygon under the pixel, with the source's attributes.
    zone = feature_info(world, version, "application/json", "vt_zones", 250, 10).json()
    assert [f["properties"]["code"] for f in zone["features"]] == ["Z03"]


def test_legend_graphic_draws_the_sld_rules(world: World) -> None:
    base = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "FORMAT": "image/png"}
    whole = httpx.get(f"{world.base_url}/wms-v", params={**base, "LAYER": "vt_zones"})
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(whole.content)).convert("RGBA"))
    assert image.shape[0] == 40  # two rules, 20 px each
    assert tuple(image[10, 10]) == (255, 0, 0, 255) and tuple(image[30, 10]) == (0, 0, 255, 255)
    one = httpx.get(
        f"{world.base_url}/wms-v",
        params={**base, "LAYER": "vt_zones", "RULE": "dep38", "WIDTH": "30", "HEIGHT": "16"},
    )
    swatch = np.asarray(Image.open(io.BytesIO(one.content)).convert("RGBA"))
    assert swatch.shape == (16, 30, 4) and tuple(swatch[8, 15]) == (0, 0, 255, 255)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "extra", "code"),
    [
        ("2.0.0", {"TYPENAMES": "nope"}, "InvalidParameterValue"),
        ("2.0.0", {"RESOURCEID": "vt_wfs:zones.abc"}, "InvalidParameterValue"),
        ("2.0.0", {"RESOURCEID": "zones.abc"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "BBOX": "1,2,x,4"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "BBOX": "5,5,1,1"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "FILTER": "<fes:Filter"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "FILTER": fes(cmp("PropertyIsEqualTo", "nope", 1), "2.0.0")},
         "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "FILTER": fes(cmp("PropertyIsLessThan", "rank", "abc"), "2.0.0")},
         "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "SORTBY": "nope DESC"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "SORTBY": "rank SIDEWAYS"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "PROPERTYNAME": "nope"}, "InvalidParameterValue"),
        ("2.0.0", {"TYPENAMES": SITES, "STARTINDEX": "-1"}, "InvalidParameterValue"),
        ("1.1.0", {"TYPENAME": SITES, "MAXFEATURES": "many"}, "InvalidParameterValue"),
        ("1.1.0", {"TYPENAME": SITES, "FILTER": "<ogc:Filter xmlns:ogc='http://www.opengis.net/ogc'><ogc:Bogus/></ogc:Filter>"},
         "InvalidParameterValue"),
        ("1.1.0", {"TYPENAME": SITES, "FEATUREID": "sites.x"}, "InvalidParameterValue"),
        ("3.0.0", {"TYPENAMES": SITES}, "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_wfs_bad_parameters_are_exception_reports(
    world: World, version: str, extra: dict[str, str], code: str
) -> None:
    response = wfs_get(world, version, **extra)
    assert response.status_code == 400, response.text
    root = etree.fromstring(response.content)
    assert etree.QName(root).localname == "ExceptionReport"
    assert root[0].get("exceptionCode") == code


def test_wfs_version_negotiation(world: World) -> None:
    base = {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}
    caps = {
        accept: etree.fromstring(
            httpx.get(f"{world.base_url}/wfs", params={**base, "ACCEPTVERSIONS": accept}).content
        ).get("version")
        for accept in ("1.1.0,1.0.0", "3.0.0,1.0.0", "2.0.0")
    }
    assert caps == {"1.1.0,1.0.0": "1.1.0", "3.0.0,1.0.0": "1.0.0", "2.0.0": "2.0.0"}
    assert etree.fromstring(httpx.get(f"{world.base_url}/wfs", params=base).content).get("version") == "2.0.0"
    refused = httpx.get(f"{world.base_url}/wfs", params={**base, "ACCEPTVERSIONS": "3.0.0"})
    assert refused.status_code == 400 and b"VersionNegotiationFailed" in refused.content


def test_wfs_100_exceptions_are_service_exception_reports(world: World) -> None:
    response = wfs_get(world, "1.0.0", TYPENAME="nope")
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert root.tag == "{http://www.opengis.net/ogc}ServiceExceptionReport"
    assert "nope" in root[0].text


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"FEATURE_COUNT": "abc"}, "InvalidParameterValue"),
        ({"FEATURE_COUNT": "0"}, "InvalidParameterValue"),
        ({"QUERY_LAYERS": "nope"}, "LayerNotDefined"),
        ({"BBOX": "1,2,3"}, "InvalidParameterValue"),
        ({"INFO_FORMAT": "image/png"}, "InvalidFormat"),
        ({"WIDTH": "abc"}, "InvalidParameterValue"),
    ],
)
def test_wms_bad_parameters_are_exception_reports(
    world: World, version: str, change: dict[str, str], code: str
) -> None:
    response = feature_info(world, version, "text/plain", "vt_sites", 10, 10)
    params = dict(response.request.url.params)
    response = httpx.get(f"{world.base_url}/wms-v", params={**params, **change})
    assert response.status_code == 400, response.text
    root = etree.fromstring(response.content)
    assert etree.QName(root).localname == "ServiceExceptionReport"
    assert root.get("version") == version
    assert [e.get("code") for e in root.iter() if etree.QName(e).localname == "ServiceException"] == [code]


HOSTILE_WFS: list[dict[str, str]] = [
    {"TYPENAMES": SITES, "BBOX": "-inf,-inf,inf,inf"},
    {"TYPENAMES": SITES, "BBOX": "nan,0,1,1"},
    {"TYPENAMES": SITES, "BBOX": "0,0,1,1,EPSG:99999"},
    {"TYPENAMES": SITES, "BBOX": "-1e300,-1e300,1e300,1e300,EPSG:3857"},
    {"TYPENAMES": SITES, "COUNT": "0"},
    {"TYPENAMES": SITES, "COUNT": "99999999999999999999"},
    {"TYPENAMES": SITES, "STARTINDEX": "100000"},
    {"TYPENAMES": SITES, "SORTBY": ",,"},
    {"TYPENAMES": SITES, "PROPERTYNAME": "geom"},
    {"TYPENAMES": f"({SITES})({ZONES})", "FILTER": "(<Filter/>)"},
    {"TYPENAMES": f"{SITES},{ZONES}", "RESOURCEID": "vt_wfs:zones.2,vt_wfs:sites.3"},
    {"RESOURCEID": "vt_wfs:zones.999999999999999999999999"},
    {"TYPENAMES": SITES, "FILTER": fes(cmp("PropertyIsEqualTo", "name", 12), "2.0.0")},
    {"TYPENAMES": SITES, "FILTER": fes(cmp("PropertyIsEqualTo", "active", "maybe"), "2.0.0")},
    {"TYPENAMES": SITES, "FILTER": "<fes:Filter xmlns:fes='http://www.opengis.net/fes/2.0'>"
     "<fes:BBOX><gml:Envelope xmlns:gml='http://www.opengis.net/gml/3.2' srsName='EPSG:nope'>"
     "<gml:lowerCorner>0 0</gml:lowerCorner><gml:upperCorner>1 1</gml:upperCorner>"
     "</gml:Envelope></fes:BBOX></fes:Filter>"},
    {"TYPENAMES": SITES, "SRSNAME": "urn:ogc:def:crs:EPSG::3857", "OUTPUTFORMAT": "GML2"},
    {"TYPENAMES": SITES, "OUTPUTFORMAT": "application/gml+xml; version=3.2", "PROPERTYNAME": "*"},
]  # fmt: skip


@pytest.mark.parametrize("extra", HOSTILE_WFS)
def test_odd_wfs_requests_never_fail_on_the_server(world: World, extra: dict[str, str]) -> None:
    response = wfs_get(world, "2.0.0", **extra)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert b"ExceptionReport" in response.content


@pytest.mark.parametrize(
    "change",
    [
        {"BBOX": "-inf,-inf,inf,inf"},
        {"BBOX": "-1e300,-1e300,1e300,1e300"},
        {"WIDTH": "1", "HEIGHT": "1", "I": "0", "J": "0"},
        {"I": "-1"},
        {"I": "x"},
        {"FEATURE_COUNT": "99999999999999999999"},
        {"CRS": "CRS:84", "BBOX": "-180,-90,180,90"},
        {"CRS": "EPSG:4326", "BBOX": "-90,-180,90,180"},
    ],
)
def test_odd_wms_requests_never_fail_on_the_server(world: World, change: dict[str, str]) -> None:
    params = dict(feature_info(world, "1.3.0", "application/json", "vt_sites", 10, 10).request.url.params)
    for request in ("GetFeatureInfo", "GetMap"):
        extra = {"FORMAT": "image/png"} if request == "GetMap" else {}
        response = httpx.get(
            f"{world.base_url}/wms-v", params={**params, **change, **extra, "REQUEST": request}
        )
        assert response.status_code in (200, 400), (request, response.text)
        if response.status_code == 400:
            assert b"ServiceExceptionReport" in response.content


def test_legend_graphic_errors(world: World) -> None:
    base = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "FORMAT": "image/png"}
    for extra, code in [
        ({"LAYER": "nope"}, "LayerNotDefined"),
        ({}, "MissingParameterValue"),
        ({"LAYER": "vt_zones", "STYLE": "nope"}, "StyleNotDefined"),
        ({"LAYER": "vt_zones", "RULE": "nope"}, "InvalidParameterValue"),
        ({"LAYER": "vt_zones", "WIDTH": "x"}, "InvalidParameterValue"),
    ]:
        response = httpx.get(f"{world.base_url}/wms-v", params={**base, **extra})
        assert response.status_code == 400, extra
        assert code.encode() in response.content, extra
