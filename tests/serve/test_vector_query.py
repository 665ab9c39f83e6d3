"""The filter tree: OGC filter reading, the in-memory evaluator and the GeoPackage SQL agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write as ogr_write

from gpf_flow.serve.fes import FilterError, like_pattern, parse_filter, parse_sort
from gpf_flow.serve.vector_data import GeoPackageSource, QueryError, QueryTimeout, Table, transform_bounds
from gpf_flow.serve.vector_query import (
    And,
    BBox,
    Between,
    Compare,
    Expr,
    Ids,
    IsNull,
    Like,
    Not,
    Or,
    Query,
    SortKey,
    evaluate,
)

X0, Y0 = 870_000.0, 6_570_000.0
LABELS = ["Alpha", "alpha", "50% off", "a_b", "BETA", None]


def write_table(path: Path, n: int, fid: str = "fid", geom: str = "geom", layer: str = "things") -> None:
    labels = np.empty(n, dtype=object)
    labels[:] = [LABELS[k % len(LABELS)] for k in range(n)]
    ogr_write(
        path,
        np.array(
            [shapely.to_wkb(shapely.Point(X0 + 10 * k, Y0 + 5 * (k % 7))) for k in range(n)], dtype=object
        ),
        [
            labels,
            np.arange(n, dtype=np.int32) % 13,
            np.arange(n, dtype=np.float64) / 4,
            np.arange(n) % 3 == 0,
        ],
        ["label", "num", "ratio", "flag"],
        driver="GPKG",
        layer=layer,
        geometry_type="Point",
        crs="EPSG:2154",
        append=path.exists(),
        layer_options={"FID": fid, "GEOMETRY_NAME": geom, "SPATIAL_INDEX": "YES"},
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> GeoPackageSource:
    path = tmp_path_factory.mktemp("gpkg") / "vector.gpkg"
    write_table(path, 60)
    # A table named the way ogr2ogr fills PostGIS: ogc_fid and wkb_geometry.
    write_table(path, 12, fid="ogc_fid", geom="wkb_geometry", layer="ogr_style")
    return GeoPackageSource(path)


def table_of(source: GeoPackageSource, name: str) -> Table:
    return next(t for t in source.tables() if t.name == name)


def test_tables_read_names_and_types_from_the_geopackage(source: GeoPackageSource) -> None:
    things, ogr = table_of(source, "things"), table_of(source, "ogr_style")
    assert (things.fid_column, things.geometry_column, things.crs) == ("fid", "geom", "EPSG:2154")
    assert (ogr.fid_column, ogr.geometry_column, ogr.count) == ("ogc_fid", "wkb_geometry", 12)
    assert {c.name: c.type for c in things.columns} == {
        "label": "string",
        "num": "integer",
        "ratio": "real",
        "flag": "boolean",
    }
    assert things.geometry_type == "Point" and things.count == 60
    assert things.bounds == pytest.approx((X0, Y0, X0 + 590, Y0 + 30))


LL = transform_bounds((X0 + 95, Y0 - 1, X0 + 305, Y0 + 12), "EPSG:2154", "EPSG:4326")
EXPRESSIONS: list[Expr] = [
    Compare("num", "=", "4"),
    Compare("num", "<>", 4),
    Compare("ratio", ">=", "7.5"),
    Compare("label", "=", "alpha", match_case=False),
    Compare("label", "<", "B"),
    Like("label", "%lpha"),
    Like("label", "%LPHA", match_case=False),
    Like("label", "50\\%%"),
    Like("label", "a\\_b"),
    Like("label", "a_b%"),
    IsNull("label"),
    Not(IsNull("label")),
    Between("num", "3", "6"),
    Compare("flag", "=", "true"),
    And((Compare("num", ">", 2), Or((Like("label", "A%"), IsNull("label"))))),
    Not(Or((Compare("num", "<", 5), Compare("flag", "=", "false")))),
    Ids((1, 5, 60, 999)),
    BBox((X0 + 95, Y0 - 1, X0 + 305, Y0 + 12), "EPSG:2154"),
    BBox(LL, "EPSG:4326"),
    And((BBox(LL, "EPSG:4326"), Not(Compare("num", "=", 11)))),
    BBox((-2e7, -2e7, 2e7, 2e7), "EPSG:3857"),  # wider than Lambert-93's area of use
    BBox((0, 0, 1, 1), "EPSG:4326"),  # elsewhere
]


@pytest.mark.parametrize(
    "expr", EXPRESSIONS, ids=[type(e).__name__ + str(i) for i, e in enumerate(EXPRESSIONS)]
)
def test_sql_and_evaluator_select_the_same_features(source: GeoPackageSource, expr: Expr) -> None:
    table = table_of(source, "things")
    everything = source.query(table, Query())
    assert len(everything) == 60

    def to_table(box: BBox) -> shapely.Geometry:
        clipped = (max(box.box[0], -180), max(box.box[1], -85), min(box.box[2], 180), min(box.box[3], 85))
        src = box.box if box.crs != "EPSG:3857" else transform_bounds(clipped, "EPSG:4326", "EPSG:3857")
        return shapely.box(*transform_bounds(src, box.crs, table.crs))

    expected = [
        int(everything.fids[i])
        for i in range(len(everything))
        if evaluate(expr, everything.properties(i), fid=int(everything.fids[i]),
                    geometry=everything.geometries[i], to_crs=to_table)
    ]  # fmt: skip
    got = source.query(table, Query(filter=expr))
    assert [int(f) for f in got.fids] == expected
    assert source.count(table, Query(filter=expr)) == len(expected)


def test_sort_paging_properties_and_crs(source: GeoPackageSource) -> None:
    table = table_of(source, "things")
    query = Query(
        sort=(SortKey("num", descending=True), SortKey("ratio")), offset=5, limit=7, properties=("num",)
    )
    page = source.query(table, query)
    rows = sorted(range(60), key=lambda k: (-(k % 13), k / 4))
    assert [int(f) - 1 for f in page.fids] == rows[5:12]
    assert list(page.columns) == ["num"]
    lonlat = source.query(table, Query(limit=1, crs="EPSG:4326"))
    assert lonlat.crs == "EPSG:4326" and 5 < lonlat.geometries[0].x < 6
    flags = source.query(table, Query(limit=2, properties=("flag",)))
    assert [flags.properties(i)["flag"] for i in range(2)] == [True, False]


def test_query_errors_name_what_to_fix(source: GeoPackageSource) -> None:
    table = table_of(source, "things")
    with pytest.raises(QueryError, match="no property 'nope'.*label, num, ratio, flag"):
        source.query(table, Query(filter=Compare("nope", "=", 1)))
    with pytest.raises(QueryError, match="num is a number: 'abc'"):
        source.count(table, Query(filter=Compare("num", "<", "abc")))
    with pytest.raises(QueryError, match="no property 'nope'"):
        source.query(table, Query(sort=(SortKey("nope"),)))


def test_a_long_query_is_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "big.gpkg"
    write_table(path, 20_000)
    slow = GeoPackageSource(path, timeout=0.0)
    table = table_of(slow, "things")
    with pytest.raises(QueryTimeout, match="longer than 0 s"):
        slow.count(table, Query(filter=Like("label", "%a%", match_case=False)))
    assert GeoPackageSource(path).count(table, Query(filter=Like("label", "%a%", match_case=False))) > 0


def test_fes_and_filter_1x_read_alike() -> None:
    fes = (
        '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0" xmlns:gml="http://www.opengis.net/gml/3.2">'
        "<fes:And><fes:PropertyIsLike wildCard='*' singleChar='#' escapeChar='!'>"
        "<fes:ValueReference>ns:label</fes:ValueReference><fes:Literal>50!*_*</fes:Literal></fes:PropertyIsLike>"
        "<fes:BBOX><fes:ValueReference>geom</fes:ValueReference>"
        '<gml:Envelope srsName="urn:ogc:def:crs:EPSG::4326"><gml:lowerCorner>46 5</gml:lowerCorner>'
        "<gml:upperCorner>47 6</gml:upperCorner></gml:Envelope></fes:BBOX></fes:And></fes:Filter>"
    )
    assert parse_filter(fes, "EPSG:2154") == And(
        (Like("label", "50*\\_%"), BBox((5.0, 46.0, 6.0, 47.0), "EPSG:4326"))
    )
    ogc10 = (
        '<Filter xmlns="http://www.opengis.net/ogc" xmlns:gml="http://www.opengis.net/gml"><BBOX>'
        "<PropertyName>geom</PropertyName><gml:Box srsName='EPSG:4326'><gml:coordinates>5,46 6,47"
        "</gml:coordinates></gml:Box></BBOX></Filter>"
    )
    assert parse_filter(ogc10, "EPSG:2154", official_axes=False) == BBox((5.0, 46.0, 6.0, 47.0), "EPSG:4326")
    ids = '<Filter xmlns="http://www.opengis.net/ogc"><FeatureId fid="t.3"/><FeatureId fid="t.9"/></Filter>'
    assert parse_filter(ids, "EPSG:2154") == Ids((3, 9))
    assert like_pattern("a*b?c!*", "*", "?", "!") == "a%b_c*"
    assert parse_sort("num DESC, ns:label,ratio A") == (
        SortKey("num", True),
        SortKey("label"),
        SortKey("ratio"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Filter", "not well-formed"),
        ("<Other/>", "root element must be Filter"),
        ("<Filter/>", "empty"),
        ("<Filter><PropertyIsEqualTo><Literal>1</Literal></PropertyIsEqualTo></Filter>", "PropertyName"),
        ("<Filter><Touches/></Filter>", "'Touches' is not supported"),
        (
            "<Filter><And><PropertyIsNull><PropertyName>a</PropertyName></PropertyIsNull></And></Filter>",
            "two",
        ),
        ("<Filter><ResourceId rid='t.x'/></Filter>", "<type>.<number>"),
        # No entity is expanded: a filter cannot read the server's files.
        (
            '<!DOCTYPE f [<!ENTITY e SYSTEM "file:///etc/hostname">]><Filter><PropertyIsEqualTo>'
            "<PropertyName>a</PropertyName><Literal>&e;</Literal></PropertyIsEqualTo><Bogus/></Filter>",
            "one operator",
        ),
    ],
)
def test_bad_filters_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(text, "EPSG:2154")


def test_entities_are_not_expanded() -> None:
    text = (
        '<!DOCTYPE f [<!ENTITY e SYSTEM "file:///etc/hostname">]><Filter><PropertyIsEqualTo>'
        "<PropertyName>a</PropertyName><Literal>&e;</Literal></PropertyIsEqualTo></Filter>"
    )
    expr = parse_filter(text, "EPSG:2154")
    assert isinstance(expr, Compare) and expr.value == "&e;"
