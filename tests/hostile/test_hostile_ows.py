"""The OGC parameters every service shares (serve/ows.py): bad input is an OGC error, never a 500."""

from __future__ import annotations

import pytest

from gpf_flow.serve.ows import MAX_MAP_SIZE, OgcError, crs_code, parse_bbox, parse_crs, parse_size


@pytest.mark.parametrize(
    ("bbox", "fragment"),
    [
        ("-inf,-inf,inf,inf", "finite"),
        ("1e308,0,1e308,1", "finite"),
        ("nan,0,1,1", "finite"),
        ("1,2,3,4,5", "4 numbers needed, not 5"),
        ("1,2,3", "4 numbers needed, not 3"),
        ("a,b,c,d", "not numbers"),
        ("3,0,1,1", "min must be below max"),
        ("1," * 100000 + "1", "not 100001"),
    ],
)
def test_bad_bbox(bbox: str, fragment: str) -> None:
    with pytest.raises(OgcError) as caught:
        parse_bbox(bbox)
    assert caught.value.code == "InvalidParameterValue" and caught.value.locator == "bbox"
    assert fragment in caught.value.message and len(caught.value.message) < 400


def test_good_bbox() -> None:
    assert parse_bbox("-180,-90,180,90") == (-180.0, -90.0, 180.0, 90.0)


@pytest.mark.parametrize(
    "name", ["garbage", "EPSG:garbage", "EPSG:99999999", "EPSG:" + "9" * 5000, "EPSG:\x00", "x" * 10**6]
)
def test_bad_crs(name: str) -> None:
    with pytest.raises(OgcError) as caught:
        crs_code(name)
    assert caught.value.code == "InvalidCRS" and len(caught.value.message) < 200
    with pytest.raises(OgcError):
        parse_crs(name)


def test_good_crs() -> None:
    assert crs_code("urn:ogc:def:crs:EPSG::4326") == "EPSG:4326"
    assert crs_code("http://www.opengis.net/def/crs/EPSG/0/2154") == "EPSG:2154"
    assert crs_code("CRS:84") == "CRS:84"


@pytest.mark.parametrize("value", ["abc", "0", "-1", str(MAX_MAP_SIZE + 1), "1e3", "9" * 5000])
def test_bad_map_size(value: str) -> None:
    with pytest.raises(OgcError) as caught:
        parse_size({"WIDTH": value}, "WIDTH")
    assert caught.value.locator == "width"


def test_map_size_within_the_cap() -> None:
    assert parse_size({"HEIGHT": str(MAX_MAP_SIZE)}, "HEIGHT") == MAX_MAP_SIZE
