"""Masks of JPEG pyramids (``mask: true``): where each tile holds data.

JPEG has no alpha channel, so a JPEG pyramid alone cannot say where its data stops (ROK4 builds a
mask pyramid next to the data pyramid for that). Here the masks live in the same MBTiles file, in
a ``tile_masks`` table shaped like ``tiles``: one 8-bit grey PNG per tile that is not fully
opaque, its value the tile's alpha (0 = no data, 255 = data). A tile without a mask row holds
data everywhere; a tile without a row at all holds none. The metadata entry ``mask`` is ``true``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from gpf_flow.processings.mbtiles import TileImage

MASK_TABLE = "tile_masks"
MASK_METADATA = "mask"


def wants_masks(mask: bool, compression: str) -> bool:
    """True when a pyramid must record masks: asked for, and its tiles have no alpha (JPEG)."""
    return mask and compression.startswith("jpg")


def encode_mask(tile: TileImage) -> bytes | None:
    """The tile's alpha as a grey PNG, or None when the tile is fully opaque (or fully empty)."""
    alpha = tile[..., -1]
    if alpha.min() == 255 or not alpha.any():
        return None
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(alpha), "L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_tile(data: bytes, mask: bytes | None, mode: str = "RGBA") -> TileImage:
    """A stored tile as an ``RGBA`` (or ``LA``) array whose alpha is its mask when it has one."""
    image = np.array(Image.open(io.BytesIO(data)).convert(mode))
    if mask is not None:
        image[..., -1] = np.asarray(Image.open(io.BytesIO(mask)).convert("L"))
    return image
