"""Pyramid images on Pillow: 2×2 downsampling and tile encoding without per-pixel Python work.

A :class:`Picture` is a Pillow image plus its alpha plane: mode ``L``/``RGB`` while fully opaque
(alpha ``None``: the common case of an orthophoto's inside, encoded and halved without touching
alpha), ``LA``/``RGBA`` otherwise. Halving is Pillow's 2×2 box reduction, as ROK4 builds a level
from the four tiles below: the colour is the mean of the children that hold data (alpha-weighted),
and a pixel holds data when any of its children does (its alpha is their maximum), so data smaller
than a pixel still shows at the top of the pyramid.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from gpf_flow.processings.mbtiles import TileImage

JPEG_QUALITY = 85
PNG_LEVEL = 3
Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in pixels, as Pillow crops."""
_WHITE: dict[str, int | tuple[int, int, int]] = {"L": 255, "RGB": (255, 255, 255)}


@dataclass
class Picture:
    """An image with its alpha plane (``None`` when fully opaque)."""

    image: Image.Image
    alpha: NDArray[np.uint8] | None

    @classmethod
    def from_bands(cls, bands: NDArray[np.uint8]) -> Picture:
        """From a ``(C, H, W)`` array whose last band is alpha (as rasterio reads)."""
        alpha = bands[-1]
        colour = [Image.fromarray(np.ascontiguousarray(b)) for b in bands[:-1]]
        if alpha.min() == 255:
            return cls(colour[0] if len(colour) == 1 else Image.merge("RGB", colour), None)
        layers = [*colour, Image.fromarray(np.ascontiguousarray(alpha))]
        return cls(Image.merge("LA" if len(colour) == 1 else "RGBA", layers), np.ascontiguousarray(alpha))

    @classmethod
    def from_array(cls, array: TileImage) -> Picture:
        """From a ``(H, W, C)`` array whose last channel is alpha."""
        return cls.from_bands(np.moveaxis(array, -1, 0))

    @property
    def size(self) -> int:
        """Height in pixels (pyramid images are square)."""
        return int(self.image.height)

    def has_data(self, box: Box) -> bool:
        """True when some pixel of ``box`` is not fully transparent."""
        if self.alpha is None:
            return True
        left, top, right, bottom = box
        return bool(self.alpha[top:bottom, left:right].any())

    def halved(self) -> Picture:
        """Half the size, by 2×2 box reduction (see the module doc)."""
        if self.alpha is None:
            return Picture(self.image.reduce(2), None)
        premultiplied = "La" if self.image.mode == "LA" else "RGBa"
        small = self.image.convert(premultiplied).reduce(2).convert(self.image.mode)
        a = self.alpha
        alpha = np.maximum(np.maximum(a[0::2, 0::2], a[0::2, 1::2]), np.maximum(a[1::2, 0::2], a[1::2, 1::2]))
        if alpha.min() == 255:
            return Picture(small.convert("L" if small.mode == "LA" else "RGB"), None)
        small.putalpha(Image.fromarray(alpha))
        return Picture(small, alpha)

    def array(self, box: Box | None = None) -> TileImage:
        """Pixels of ``box`` (default: all) as a ``(H, W, C)`` array whose last channel is alpha."""
        image = self.image if box is None else self.image.crop(box)
        if self.alpha is None:
            image = image.convert("LA" if image.mode == "L" else "RGBA")
        return np.asarray(image)

    def encode(self, box: Box, compression: str) -> bytes | None:
        """The tile of ``box`` encoded, or ``None`` if it holds no data.

        JPEG has no alpha: partly transparent pixels are blended onto white. PNG keeps alpha when
        the tile is not fully opaque; ``none`` is PNG without deflate compression.
        """
        tile = self.image.crop(box)
        if self.alpha is not None:
            left, top, right, bottom = box
            alpha = self.alpha[top:bottom, left:right]
            if not alpha.any():
                return None
            colour_mode = "L" if tile.mode == "LA" else "RGB"
            if alpha.min() == 255:
                tile = tile.convert(colour_mode)
            elif compression.startswith("jpg"):
                background = Image.new(colour_mode, tile.size, _WHITE[colour_mode])
                background.paste(tile.convert(colour_mode), mask=tile.getchannel("A"))
                tile = background
        buf = io.BytesIO()
        if compression.startswith("jpg"):
            tile.save(buf, format="JPEG", quality=90 if compression == "jpg90" else JPEG_QUALITY)
        else:
            tile.save(buf, format="PNG", compress_level=0 if compression == "none" else PNG_LEVEL)
        return buf.getvalue()


def encode_tile(tile: TileImage, compression: str) -> bytes | None:
    """Encode one ``(H, W, C)`` tile, or ``None`` if it holds no data (see :meth:`Picture.encode`)."""
    if not tile[..., -1].any():
        return None
    h, w = tile.shape[:2]
    return Picture.from_array(tile).encode((0, 0, w, h), compression)


def halve(image: TileImage) -> TileImage:
    """An ``(H, W, C)`` image downsampled by 2 (see :meth:`Picture.halved`)."""
    return Picture.from_array(image).halved().array()
