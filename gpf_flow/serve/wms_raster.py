"""WMS 1.3.0 for WMS-RASTER offerings: MapProxy in process, over the pyramids' MBTiles.

MapProxy is configured with ``sources: []`` (it only reads the caches) and rebuilt whenever
the set of published raster layers changes. Its WMS answers GetCapabilities, GetMap (any CRS
of :data:`~gpf_flow.serve.ows.SUPPORTED_CRS`, axis order per version) and its own
``ServiceException`` reports for bad requests.

Two MapProxy apps serve one published set, each built on its first request: one for maps that
may be transparent (caches merged as RGBA), one for opaque maps (JPEG, or PNG without
``TRANSPARENT=TRUE``) whose JPEG caches are merged as RGB. Pillow resamples RGBA through a
premultiplied copy (two conversions per map) that an opaque map does not need: a reprojected
256² map costs about 40 % less CPU in RGB, with the same pixels inside the data.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from pyproj import CRS

from gpf_flow.raster_style import RasterStyle
from gpf_flow.serve import aligned, raster_info
from gpf_flow.serve.mbtiles import MBTiles, PyramidCache, PyramidInfo
from gpf_flow.serve.ows import (
    MAX_MAP_SIZE,
    SUPPORTED_CRS,
    OgcError,
    crs_code,
    is_north_east,
    parse_bbox,
    parse_crs,
    require,
    templates,
)
from gpf_flow.serve.published import WMS_RASTER, PublishedIndex, PublishedLayer
from gpf_flow.serve.raster_map import MapRequest, render_map
from gpf_flow.serve.raster_styles import StyleBook, add_styles, legend_graphic, style_requested

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_SIZE = MAX_MAP_SIZE  # GPF_FLOW_SERVE_MAX_MAP_SIZE; advertised as MaxWidth/MaxHeight


def _ident(name: str) -> str:
    return "c_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


Item = tuple[PublishedLayer, Path, PyramidInfo]


def own_crs(info: PyramidInfo) -> str | None:
    """The pyramid's CRS as ``EPSG:n``, when it has an EPSG equivalent (WMS clients need one)."""
    crs = CRS.from_user_input(info.grid.rasterio_crs.to_wkt())
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else None


def served_crs(infos: Iterable[PyramidInfo]) -> list[str]:
    """The CRS the WMS advertises: the usual ones, and the pyramids' own."""
    extra = {c for info in infos if (c := own_crs(info)) is not None}
    return [*SUPPORTED_CRS, *sorted(extra - set(SUPPORTED_CRS))]


def mapproxy_config(layers: list[Item], base_dir: Path, opaque: bool = False) -> dict[str, Any]:
    """The MapProxy configuration serving ``(layer, mbtiles, pyramid info)`` items.

    Only PM pyramids are read by MapProxy; the others are listed (for the capabilities) over an
    empty placeholder cache, and their maps are drawn by :mod:`gpf_flow.serve.raster_map`.
    ``opaque``: the JPEG caches are merged as RGB (for maps that are not transparent, see the
    module docstring).
    """
    srs = served_crs(info for _, _, info in layers)
    conf: dict[str, Any] = {
        "services": {
            "wms": {
                "versions": ["1.1.1", "1.3.0"],
                "srs": srs,
                "bbox_srs": [c for c in srs if c != "CRS:84"],
                "image_formats": ["image/png", "image/jpeg"],
                "max_output_pixels": [MAX_SIZE, MAX_SIZE],
                "strict": True,
                "md": {
                    "title": "gpf-flow raster WMS",
                    "abstract": "Raster pyramids published in the local Entrepôt",
                },
            }
        },
        "layers": [],
        "caches": {},
        # One grid per pyramid: its levels stop at the pyramid's bottom level, so finer requests
        # are resampled from that level instead of reading empty levels.
        "grids": {},
        "globals": {
            "image": {"resampling_method": "bicubic", "paletted": False},
            "cache": {"base_dir": str(base_dir / "cache"), "lock_dir": str(base_dir / "locks")},
        },
    }
    for layer, path, info in layers:
        ident = _ident(layer.layer_name)
        # MBTiles rows are TMS rows: the grid must have its origin south-west, or tiles read blank.
        conf["grids"][ident] = {"base": "GLOBAL_WEBMERCATOR", "origin": "sw", "num_levels": info.maxzoom + 1}
        conf["caches"][ident] = {
            "sources": [],
            "grids": [ident],
            "format": info.format,
            "request_format": "image/png",
            # The coverage gives the layer its extent in the capabilities.
            "cache": {
                "type": "mbtiles",
                "filename": str(path) if info.is_pm else str(base_dir / f"placeholder-{ident}.mbtiles"),
                "coverage": {"bbox": list(info.bounds), "srs": "EPSG:4326"},
            },
        }
        if opaque and info.format == "image/jpeg":  # PNG tiles may have alpha: they stay RGBA
            conf["caches"][ident]["image"] = {"mode": "RGB", "transparent": False}
        conf["layers"].append(
            {
                "name": layer.layer_name,
                "title": layer.title,
                "sources": [ident],
                "md": {"abstract": layer.abstract or layer.title},
            }
        )
    return conf


class RasterWms:
    """The WSGI app behind ``/wms-r``: one MapProxy app per set of published raster layers."""

    def __init__(self, index: PublishedIndex, pyramids: PyramidCache) -> None:
        self.index = index
        self.pyramids = pyramids
        self.styles = StyleBook(index.store)
        self._lock = threading.Lock()
        self._key: object = None
        self._items: list[Item] = []
        self._apps: dict[bool, WsgiApp] = {}
        """The MapProxy apps of the current published set, by ``opaque`` (built on first use)."""
        self._snapshot: object = None
        self._tmp = tempfile.TemporaryDirectory(prefix="gpf-flow-mapproxy-")

    def _current(self, opaque: bool = False) -> WsgiApp | None:
        """The MapProxy app of the published set (``opaque``: the one merging as RGB), or None."""
        snapshot = self.index.snapshot()
        with self._lock:
            # Same published set as the previous request: the index caches on store changes.
            fresh = snapshot is self._snapshot
        if not fresh:
            items = self._published_items(snapshot)
            key = tuple(
                (lay.layer_name, lay.title, str(p), info, p.stat().st_mtime) for lay, p, info in items
            )
            with self._lock:
                if key != self._key:
                    self._key, self._items, self._apps = key, items, {}
                self._snapshot = snapshot
        with self._lock:
            if not self._items:
                return None
            app = self._apps.get(opaque)
            if app is None:
                app = self._apps[opaque] = self._build(self._items, opaque)
            return app

    def _published_items(self, snapshot: Any) -> list[Item]:
        items = []
        for _name, layer in sorted(snapshot.layers(WMS_RASTER).items()):
            pyramid = self.pyramids.of(layer)
            if pyramid is not None:
                items.append((layer, pyramid.path, pyramid.info))
        return items

    def _build(self, items: list[Item], opaque: bool) -> WsgiApp:
        from mapproxy.wsgiapp import make_wsgi_app

        install_fast_scaling()
        install_kept_connections()
        base = Path(self._tmp.name)
        names = abs(hash(tuple(i[0].layer_name for i in items)))
        conf_path = base / f"mapproxy-{names}{'-opaque' if opaque else ''}.yaml"
        conf_path.write_text(yaml.safe_dump(mapproxy_config(items, base, opaque)), encoding="utf-8")
        app: WsgiApp = make_wsgi_app(str(conf_path), ignore_config_warnings=False)
        return app

    def _feature_info(self, params: dict[str, str]) -> tuple[bytes, str]:
        published = self.index.snapshot().layers(WMS_RASTER)
        chosen = []
        for name in (n for n in require(params, "QUERY_LAYERS").split(",") if n):
            layer = published.get(name)
            pyramid = self.pyramids.of(layer) if layer is not None else None
            if layer is None or pyramid is None:
                raise OgcError(
                    "LayerNotDefined", f"no published WMS-RASTER layer named {name!r}", "query_layers"
                )
            if not raster_info.queryable(layer):
                raise OgcError("LayerNotQueryable", f"layer {name!r} is not queryable", "query_layers")
            chosen.append((layer, pyramid))
        return raster_info.pixel_info(chosen, params)

    def _own_map_layers(self, params: dict[str, str]) -> list[MBTiles] | None:
        """The pyramids of a GetMap that names a pyramid MapProxy cannot read (None: MapProxy answers)."""
        published = self.index.snapshot().layers(WMS_RASTER)
        pyramids = []
        for name in (n for n in params.get("LAYERS", "").split(",") if n):
            layer = published.get(name)
            pyramid = self.pyramids.of(layer) if layer is not None else None
            if pyramid is None:
                return None  # MapProxy reports the unknown layer
            pyramids.append(pyramid)
        # MapProxy reads JPEG tiles as opaque: masked pyramids are drawn here, transparent off data.
        # A styled map is drawn here too: MapProxy and the stored tiles know no ROK4 style.
        if not style_requested(params) and all(
            p.info.is_pm and not p.info.top_cut and not p.info.masked for p in pyramids
        ):
            return None
        return pyramids

    def _own_map(self, pyramids: list[MBTiles], params: dict[str, str]) -> tuple[bytes, str]:
        version = params.get("VERSION", "1.3.0")
        name = require(params, "CRS" if version == "1.3.0" else "SRS")
        code = crs_code(name)
        if code not in served_crs(p.info for p in pyramids):
            raise OgcError("InvalidCRS", f"CRS {name} is not offered", "crs")
        bbox = parse_bbox(require(params, "BBOX"))
        if version == "1.3.0" and is_north_east(code):
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        crs = CRS.from_user_input("OGC:CRS84") if code == "CRS:84" else parse_crs(code)
        width, height = int(require(params, "WIDTH")), int(require(params, "HEIGHT"))
        media = require(params, "FORMAT").split(";")[0].strip().lower()
        transparent = params.get("TRANSPARENT", "false").lower() == "true"
        published = self.index.snapshot().layers(WMS_RASTER)
        names = [n for n in params.get("LAYERS", "").split(",") if n]
        styles = self.styles.for_map([published[n] for n in names if n in published], params)
        body = render_map(pyramids, MapRequest(crs, bbox, width, height), media, transparent, styles)
        return body, media

    def _layer_styles(self) -> dict[str, list[RasterStyle]]:
        layers = self.index.snapshot().layers(WMS_RASTER)
        return {name: found for name, layer in layers.items() if (found := self.styles.of(layer))}

    def aligned(self, params: dict[str, str]) -> tuple[MBTiles, tuple[int, int, int]] | None:
        """The pyramid and tile ``(z, col, row)`` that a GetMap (upper-case keys) of one layer is
        exactly, or None (cheap: no tile is read, see :func:`gpf_flow.serve.aligned.target`)."""
        names = [n for n in params.get("LAYERS", "").split(",") if n]
        if len(names) != 1:
            return None
        layer = self.index.snapshot().layers(WMS_RASTER).get(names[0])
        pyramid = self.pyramids.of(layer) if layer is not None else None
        if pyramid is None:
            return None
        tile = aligned.target(pyramid, params)
        return (pyramid, tile) if tile is not None else None

    def _queryable_names(self) -> set[str]:
        layers = self.index.snapshot().layers(WMS_RASTER)
        return {name for name, layer in layers.items() if raster_info.queryable(layer)}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        params = {k.upper(): v for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)}
        request = params.get("REQUEST", "").lower()
        try:
            _precheck(params)
            app = self._current(opaque=request == "getmap" and _is_opaque(params))
            if app is None:
                # MapProxy cannot run without layers: answer as it would for an unknown layer.
                raise OgcError("LayerNotDefined", "no WMS-RASTER offering is published", "layers")
            if request == "getfeatureinfo":
                body, media = self._feature_info(params)
                start_response("200 OK", [("Content-Type", media), ("Content-Length", str(len(body)))])
                return [body]
            if request == "getlegendgraphic":
                published = self.index.snapshot().layers(WMS_RASTER)
                status, headers, body = legend_graphic(self.styles, published, params)
                start_response(status, headers)
                return [body]
            own = self._own_map_layers(params) if request == "getmap" else None
            if own is not None:
                body, media = self._own_map(own, params)
                start_response("200 OK", [("Content-Type", media), ("Content-Length", str(len(body)))])
                return [body]
        except OgcError as error:
            body = templates().get_template("wms_exception.xml.j2").render(error=error).encode()
            start_response("400 Bad Request", [("Content-Type", "text/xml; charset=utf-8")])
            return [body]
        # MapProxy serves its WMS at /service and advertises SCRIPT_NAME + /service.
        environ["SCRIPT_NAME"] = "/wms-r"
        environ["PATH_INFO"] = "/service"

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # MapProxy answers exception reports with 500; they are the client's errors.
            is_xml = any(k.lower() == "content-type" and "xml" in v for k, v in headers)
            if status.startswith("500") and is_xml:
                status = "400 Bad Request"
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        names = self._queryable_names() if request == "getcapabilities" else set()
        styled = self._layer_styles() if request == "getcapabilities" else {}
        if not names and not styled:
            return app(environ, respond)
        # MapProxy cannot know that we answer GetFeatureInfo: mark those layers queryable.
        captured: list[Any] = []
        body = b"".join(
            app(environ, lambda status, headers, exc_info=None: captured.extend([status, headers]))
        )
        status, headers = captured[0], captured[1]
        if status.startswith("200"):
            body = raster_info.mark_queryable(body, names) if names else body
            body = add_styles(body, styled) if styled else body
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _is_opaque(params: dict[str, str]) -> bool:
    """True for a GetMap whose answer has no transparency: JPEG, or PNG without TRANSPARENT=TRUE."""
    media = params.get("FORMAT", "").split(";")[0].strip().lower()
    return media == "image/jpeg" or (media == "image/png" and params.get("TRANSPARENT", "").lower() != "true")


def _precheck(params: dict[str, str]) -> None:
    """Reject what MapProxy would answer with a traceback (unparsable BBOX, WIDTH, HEIGHT)."""
    if params.get("REQUEST", "").lower() not in ("getmap", "getfeatureinfo"):
        return
    if "BBOX" in params:
        parse_bbox(params["BBOX"])
    for name in ("WIDTH", "HEIGHT"):
        if name in params:
            try:
                value = int(params[name])
            except ValueError as exc:
                raise OgcError("InvalidParameterValue", f"{name} must be an integer", name.lower()) from exc
            if not 0 < value <= MAX_SIZE:
                raise OgcError("InvalidParameterValue", f"{name} must be within 1..{MAX_SIZE}", name.lower())


_PATCHED = False
_ORIGINAL: Any = None
"""MapProxy's own ``_transform_simple``, once replaced (tests compare the two)."""
PATCHED_SIGNATURE = ("self", "src_img", "src_bbox", "dst_size", "dst_bbox", "image_opts")
"""``ImageTransformer._transform_simple``'s parameters in the tested MapProxy versions (pinned)."""


def fast_scaling_applies() -> bool:
    """True when MapProxy's private API still looks like the one :func:`install_fast_scaling` replaces."""
    import inspect

    from mapproxy.image import transform

    method = getattr(transform.ImageTransformer, "_transform_simple", None)
    helpers = ("image_filter", "img_for_resampling", "make_lin_transf")
    if method is None or not all(hasattr(transform, name) for name in helpers):
        return False
    return tuple(inspect.signature(method).parameters) == PATCHED_SIGNATURE


def install_fast_scaling() -> bool:
    """Make MapProxy scale same-CRS maps with Pillow's ``resize(box=...)`` instead of ``EXTENT``.

    MapProxy resamples a map in the cache's CRS with ``Image.transform(EXTENT, BICUBIC)``,
    Pillow's generic (non-separable) path: about 15 ms for 256² and 240 ms for 1024². A pure
    scale + offset is what ``resize`` with a box does, with separable kernels, 4–8× faster and
    antialiased when shrinking. Other cases (exact resolution crop, reprojection) are unchanged.

    This replaces a private method: pyproject.toml pins MapProxy below the first untested
    version, and when the method does not look as expected MapProxy's own path is kept (the
    return value says whether the patch is in place; a test asserts it is).
    """
    global _PATCHED
    if _PATCHED:
        return True
    if not fast_scaling_applies():
        return False
    from mapproxy.image import ImageResult
    from mapproxy.image.transform import ImageTransformer, image_filter, img_for_resampling, make_lin_transf

    global _ORIGINAL
    original = _ORIGINAL = ImageTransformer._transform_simple

    def transform_simple(
        self: Any, src_img: Any, src_bbox: Any, dst_size: tuple[int, int], dst_bbox: Any, image_opts: Any
    ) -> Any:
        width, height = src_img.size
        to_px = make_lin_transf(src_bbox, (0, 0, width, height))
        minx, miny = to_px((dst_bbox[0], dst_bbox[3]))
        maxx, maxy = to_px((dst_bbox[2], dst_bbox[1]))
        src_res = (src_bbox[2] - src_bbox[0]) / width
        dst_res = (dst_bbox[2] - dst_bbox[0]) / dst_size[0]
        inside = 0 <= minx < maxx <= width and 0 <= miny < maxy <= height
        if not inside or abs(src_res - dst_res) < abs(dst_res / (dst_size[0] * 10)):
            return original(self, src_img, src_bbox, dst_size, dst_bbox, image_opts)
        img = img_for_resampling(src_img.as_image(), image_opts.resampling)
        result = img.resize(dst_size, image_filter[image_opts.resampling], box=(minx, miny, maxx, maxy))
        return ImageResult(result, size=dst_size, image_opts=image_opts)

    ImageTransformer._transform_simple = transform_simple
    _PATCHED = True
    return True


_KEPT = False


def install_kept_connections() -> bool:
    """Keep MapProxy's MBTiles connections open between requests (one per thread and cache).

    MapProxy closes its SQLite connection after every map (``TileManager.session``), so each
    map opened the file again and re-read its schema. The pyramids are read-only here and a
    replaced file gets a new MapProxy app (new cache objects, new connections), so the
    connection is kept; it closes when its cache object is collected. Returns whether the patch
    is in place (False when MapProxy's private API changed: MapProxy's behaviour is kept).
    """
    global _KEPT
    if _KEPT:
        return True
    from mapproxy.cache.mbtiles import MBTilesCache

    if not callable(getattr(MBTilesCache, "cleanup", None)) or not hasattr(MBTilesCache, "db"):
        return False

    def cleanup(self: Any) -> None:
        """Nothing: the thread's connection is reused by the next map."""

    MBTilesCache.cleanup = cleanup
    _KEPT = True
    return True
