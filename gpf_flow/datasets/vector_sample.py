"""``vector-sample``: a polygon shapefile ``ZONES/ZONES.shp`` (30 zones, EPSG:2154) and its SLD style.

The zones tile a 3 km x 2.5 km area around the raster sample with slightly bent edges. Fields:
``CODE``, ``NOM``, ``POPULATION``, ``INSEE_DEP``. The style ``style_zones.sld`` colours zones by
``insee_dep`` in lower case, the column name a "mise en base" produces.
"""

from __future__ import annotations

import math
from pathlib import Path

DATA_DIR = "ZONES"
STYLE_FILE = "style_zones.sld"
COLS, ROWS = 6, 5
CELL = 500.0
ORIGIN_X, ORIGIN_Y = 939_000.0, 6_538_000.0  # top-left corner, Lambert-93 metres
DBF_DATE = "2026-01-01"  # fixed, so the .dbf header (last update date) is the same on every run

_PLACES = (
    "Les Prés",
    "La Combe",
    "Le Bourg",
    "Les Vignes",
    "Le Moulin",
    "La Forêt",
    "Les Granges",
    "Le Crêt",
    "La Praz",
    "Les Îles",
    "Le Verger",
    "La Côte",
    "Les Marais",
    "Le Château",
    "La Chapelle",
)
_SUFFIXES = ("d'en Haut", "d'en Bas", "du Lac", "Sud", "Nord")
_FILLS = {"74": ("#8fd19e", "#2e7d32"), "73": ("#f4b183", "#a0522d")}


def _vertex(i: int, j: int) -> tuple[float, float]:
    """Grid vertex (column i, row j), bent inside the area so that edges are not straight."""
    x, y = ORIGIN_X + i * CELL, ORIGIN_Y - j * CELL
    if 0 < i < COLS and 0 < j < ROWS:
        x += 90 * math.sin(1.7 * i + 2.3 * j)
        y += 80 * math.cos(2.9 * i - 1.1 * j)
    return round(x, 2), round(y, 2)


def _department(i: int, j: int) -> str:
    return "74" if i + 0.6 * j < 4 else "73"


def zones() -> list[dict[str, object]]:
    """The features: ``geometry`` (shapely Polygon) and the four attributes."""
    from shapely.geometry import Polygon

    features: list[dict[str, object]] = []
    for j in range(ROWS):
        for i in range(COLS):
            n = j * COLS + i
            ring = [_vertex(i, j), _vertex(i + 1, j), _vertex(i + 1, j + 1), _vertex(i, j + 1)]
            features.append(
                {
                    "geometry": Polygon(ring),
                    "CODE": f"Z{n + 1:03d}",
                    "NOM": f"{_PLACES[n % len(_PLACES)]} {_SUFFIXES[n % len(_SUFFIXES)]}",
                    "POPULATION": 120 + (n * 379) % 2400,
                    "INSEE_DEP": _department(i, j),
                }
            )
    return features


def write_shapefile(folder: Path) -> Path:
    """Write ``ZONES.shp`` (+ .shx, .dbf, .prj, .cpg) into ``folder``; return the .shp path."""
    import numpy as np
    import shapely
    from pyogrio import raw

    folder.mkdir(parents=True, exist_ok=True)
    features = zones()
    path = folder / "ZONES.shp"
    geometries = shapely.to_wkb(np.array([f["geometry"] for f in features], dtype=object))
    names = ["CODE", "NOM", "POPULATION", "INSEE_DEP"]
    fields = [
        np.array([f["CODE"] for f in features], dtype=object),
        np.array([f["NOM"] for f in features], dtype=object),
        np.array([f["POPULATION"] for f in features], dtype="int32"),
        np.array([f["INSEE_DEP"] for f in features], dtype=object),
    ]
    raw.write(
        path,
        geometries,
        fields,
        names,
        driver="ESRI Shapefile",
        crs="EPSG:2154",
        geometry_type="Polygon",
        encoding="UTF-8",
        layer_options={"DBF_DATE_LAST_UPDATE": DBF_DATE},
    )
    return path


def style_sld() -> str:
    """The SLD 1.0.0 style: one rule per department, filtering on lower-case ``insee_dep``."""
    rules = "".join(
        f"""
        <Rule>
          <Name>dep_{dep}</Name>
          <Title>Département {dep}</Title>
          <ogc:Filter>
            <ogc:PropertyIsEqualTo>
              <ogc:PropertyName>insee_dep</ogc:PropertyName>
              <ogc:Literal>{dep}</ogc:Literal>
            </ogc:PropertyIsEqualTo>
          </ogc:Filter>
          <PolygonSymbolizer>
            <Fill>
              <CssParameter name="fill">{fill}</CssParameter>
              <CssParameter name="fill-opacity">0.7</CssParameter>
            </Fill>
            <Stroke>
              <CssParameter name="stroke">{stroke}</CssParameter>
              <CssParameter name="stroke-width">1.5</CssParameter>
            </Stroke>
          </PolygonSymbolizer>
        </Rule>"""
        for dep, (fill, stroke) in sorted(_FILLS.items(), reverse=True)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor version="1.0.0"
    xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc"
    xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.opengis.net/sld StyledLayerDescriptor.xsd">
  <NamedLayer>
    <Name>zones</Name>
    <UserStyle>
      <Name>style_zones</Name>
      <Title>Zones by department</Title>
      <FeatureTypeStyle>{rules}
      </FeatureTypeStyle>
    </UserStyle>
  </NamedLayer>
</StyledLayerDescriptor>
"""


def write_style(path: Path) -> Path:
    """Write the SLD file."""
    path.write_text(style_sld(), encoding="utf-8")
    return path
