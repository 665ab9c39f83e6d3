"""The WMS-RASTER's MapProxy speed-up replaces a private method: it must still fit the installed MapProxy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from gpf_flow.serve import wms_raster


def _scale(method, src: Image.Image, dst_size: tuple[int, int]) -> np.ndarray:
    from mapproxy.image import ImageResult
    from mapproxy.image.opts import ImageOptions
    from mapproxy.image.transform import ImageTransformer
    from mapproxy.srs import SRS

    transformer = ImageTransformer(SRS(3857), SRS(3857))
    result = method(
        transformer,
        ImageResult(src),
        (0.0, 0.0, 512.0, 512.0),
        dst_size,
        (64.0, 64.0, 448.0, 448.0),
        ImageOptions(resampling="bicubic"),
    )
    return np.asarray(result.as_image().convert("RGB"), dtype=np.float64)


def test_the_patch_is_installed_on_the_pinned_mapproxy() -> None:
    # Fails when a MapProxy release changes ImageTransformer._transform_simple: re-test and re-pin.
    assert wms_raster.fast_scaling_applies()
    assert wms_raster.install_fast_scaling()


def test_the_patch_scales_like_mapproxy_itself() -> None:
    from mapproxy.image.transform import ImageTransformer

    assert wms_raster.install_fast_scaling()
    yy, xx = np.mgrid[0:512, 0:512]
    smooth = np.stack([xx / 2, yy / 2, (xx + yy) / 4], axis=-1).astype(np.uint8)
    src = Image.fromarray(smooth)
    for size in ((192, 192), (300, 300)):  # shrink and enlarge
        ours = _scale(ImageTransformer._transform_simple, src, size)
        theirs = _scale(wms_raster._ORIGINAL, src, size)
        assert ours.shape == theirs.shape == (size[1], size[0], 3)
        assert np.abs(ours - theirs).mean() < 1.5, size
        assert ours[0, 0, 0] < 40 < ours[-1, -1, 0]


def test_mbtiles_connections_are_kept_between_maps(tmp_path: Path) -> None:
    from mapproxy.cache.mbtiles import MBTilesCache

    assert wms_raster.install_kept_connections()
    cache = MBTilesCache(str(tmp_path / "t.mbtiles"))
    first = cache.db
    cache.cleanup()  # what TileManager.session does after each map
    assert cache.db is first
    assert first.execute("SELECT count(*) FROM tiles").fetchone() == (0,)
