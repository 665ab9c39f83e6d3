"""The README's vector variant run as a user would (dataset, upload, `gpf-flow run vector-generic`),
then its WFS and WMS-VECTOR read by OWSLib and GDAL in every version and checked against the
delivered shapefile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import shapely
from owslib.wfs import WebFeatureService
from owslib.wms import WebMapService
from pyogrio.raw import read as ogr_read

pytestmark = pytest.mark.slow


def gpf_flow(work: Path, home: Path, *args: str) -> str:
    env = {**os.environ, "GPF_FLOW_HOME": str(home), "COLUMNS": "200"}
    for key in ("GPF_FLOW_STORE", "GPF_FLOW_CONFIG"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"gpf-flow {' '.join(args)} exited {done.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def published(server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The vector workflow run into the running server's home; the source features."""
    work = tmp_path_factory.mktemp("vector-workflow")
    gpf_flow(work, server.home, "dataset", "get", "vector-sample")
    gpf_flow(work, server.home, "upload", "-f", "vector-sample/upload_descriptor.jsonc")
    gpf_flow(work, server.home, "run", "vector-generic")
    meta, _, wkb, values = ogr_read(work / "vector-sample" / "ZONES" / "ZONES.shp")
    source = {str(name).lower(): list(v) for name, v in zip(meta["fields"], values, strict=True)}
    return {"source": source, "geometries": shapely.from_wkb(wkb), "base": server.base_url}


def one_type(service: WebFeatureService) -> str:
    (name,) = [n for n in service.contents if n.endswith(":zones")]
    return str(name)


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_wfs_gml_of_every_version_holds_the_delivered_features(
    published: dict[str, Any], version: str, tmp_path: Path
) -> None:
    service = WebFeatureService(f"{published['base']}/wfs", version=version)
    name = one_type(service)
    schema = service.get_schema(name)
    assert set(schema["properties"]) == {"code", "nom", "population", "insee_dep"}
    body = service.getfeature(typename=[name], srsname="EPSG:2154").read()
    (tmp_path / "zones.gml").write_bytes(body)
    meta, _, wkb, values = ogr_read(tmp_path / "zones.gml")
    got = {str(n): list(v) for n, v in zip(meta["fields"], values, strict=True)}
    source = published["source"]
    assert got["code"] == source["code"]
    assert got["nom"] == source["nom"]  # accents and apostrophes intact
    assert [int(p) for p in got["population"]] == [int(p) for p in source["population"]]
    for mine, theirs in zip(shapely.from_wkb(wkb), published["geometries"], strict=True):
        assert shapely.symmetric_difference(mine, theirs).area < 1e-6 * theirs.area


def test_wfs_like_filter_sort_and_gdal_driver(published: dict[str, Any]) -> None:
    service = WebFeatureService(f"{published['base']}/wfs", version="2.0.0")
    name = one_type(service)
    source = published["source"]
    flt = (
        '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsLike wildCard="*" '
        'singleChar="?" escapeChar="\\" matchCase="false"><fes:ValueReference>nom</fes:ValueReference>'
        "<fes:Literal>*d'en*</fes:Literal></fes:PropertyIsLike></fes:Filter>"
    )
    response = httpx.get(
        f"{published['base']}/wfs",
        params={"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": name,
                "FILTER": flt, "SORTBY": "population DESC", "OUTPUTFORMAT": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    expected = sorted(
        (row for row in zip(source["nom"], source["population"], strict=True) if "d'en" in row[0].lower()),
        key=lambda row: -int(row[1]),
    )
    assert expected
    assert [f["properties"]["nom"] for f in response.json()["features"]] == [row[0] for row in expected]
    for version in ("1.1.0", "2.0.0"):
        meta, _, _, values = ogr_read(f"WFS:{published['base']}/wfs?VERSION={version}", layer=name)
        codes = list(values[list(meta["fields"]).index("code")])
        assert sorted(codes) == sorted(source["code"])


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_wms_identify_returns_the_zone_under_the_click(published: dict[str, Any], version: str) -> None:
    service = WebMapService(f"{published['base']}/wms-v", version=version)
    (layer,) = list(service.contents)
    assert service[layer].queryable == 1
    source = published["source"]
    k = 7
    zone = published["geometries"][k]
    x, y = shapely.get_coordinates(shapely.point_on_surface(zone))[0]
    bbox = (x - 100, y - 100, x + 100, y + 100)
    info = service.getfeatureinfo(
        layers=[layer], srs="EPSG:2154", bbox=bbox, size=(101, 101), format="image/png",
        query_layers=[layer], info_format="application/json", xy=(50, 50), feature_count=5,
    )  # fmt: skip
    features = httpx.Response(200, content=info.read()).json()["features"]
    codes = [f["properties"]["code"] for f in features]
    assert codes == [source["code"][k]]
    props = features[0]["properties"]
    assert props["nom"] == source["nom"][k] and props["population"] == int(source["population"][k])
    legend = service[layer].styles
    url = next(iter(legend.values()))["legend"]
    image = httpx.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert np.frombuffer(image.content[:8], dtype=np.uint8).tolist() == [137, 80, 78, 71, 13, 10, 26, 10]
