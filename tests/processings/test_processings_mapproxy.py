"""The raster pyramid's MBTiles is served as is by MapProxy (the layout the server helper relies on)."""

from __future__ import annotations

import sqlite3

import morecantile
import yaml
from processings_rasters import ORIGIN_X, ORIGIN_Y, write_tiles
from pyproj import Transformer

from gpf_flow.processings import raster_pyramid


def test_mapproxy_serves_the_tiles_unchanged(make_ctx, tmp_path) -> None:
    from mapproxy.wsgiapp import make_wsgi_app
    from werkzeug.test import Client

    root = tmp_path / "upload"
    write_tiles(root, 2, 200, 1.0)
    h = make_ctx(uploads=[({"type": "RASTER", "srs": "EPSG:2154"}, root)], parameters={"bottom_level": 17})
    raster_pyramid.run(h.ctx)
    mbtiles = h.ctx.output_dir / "pyramid.mbtiles"
    config = {
        "services": {"tms": {"use_grid_names": True, "origin": "nw"}},
        "layers": [{"name": "ortho", "title": "Ortho", "sources": ["ortho_cache"]}],
        "caches": {
            "ortho_cache": {
                "sources": [],
                "grids": ["pm_sw"],
                "format": "image/jpeg",
                "cache": {"type": "mbtiles", "filename": str(mbtiles)},
            }
        },
        "grids": {"pm_sw": {"base": "GLOBAL_WEBMERCATOR", "origin": "sw"}},
    }
    (tmp_path / "mapproxy.yaml").write_text(yaml.safe_dump(config))
    client = Client(make_wsgi_app(str(tmp_path / "mapproxy.yaml")))
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(ORIGIN_X + 200, ORIGIN_Y - 200)
    for z in (17, 12, 5):
        t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
        response = client.get(f"/tiles/ortho/pm_sw/{z}/{t.x}/{t.y}.jpeg?origin=nw")
        assert response.status_code == 200
        with sqlite3.connect(mbtiles) as db:
            (blob,) = db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, t.x, 2**z - 1 - t.y),
            ).fetchone()
        assert response.data == blob, z
