"""Pyramid images on Pillow: 2×2 downsampling and tile encoding without per-pixel Python work.

A :class:`Picture` is a Pillow image plus its alpha plane: mode ``L``/``RGB`` while fully opaque
(alpha ``None``: the common case of an orthophoto's inside, encoded and halved without touching
alpha) or while alpha is only 0 or 255 over a colour that is 0 off the data (an orthophoto's edge,
as GDAL's warper gives it), ``LA``/``RGBA`` otherwise. Halving is Pillow's 2×2 box reduction, as
ROK4 builds a level from the four tiles below: the colour is the mean of the children that hold
data (alpha-weighted), and a pixel holds data when any of its children does (its alpha is their
maximum), so data smaller than a pixel still shows at the top of the pyramid.
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


def _premultiplied_mean_lut() -> NDArray[np.uint8]:
    """``LUT[k, v]``: the colour of a pixel made from ``k`` of 4 children with data whose colour
    mean over the 4 (transparent children counting 0) is ``v``, as Pillow's premultiplied path
    gives it: the mean alpha is ``(255 k + 2) >> 2`` and un-premultiplying is ``255 v // alpha``."""
    lut = np.tile(np.arange(256, dtype=np.int64), (5, 1))
    for k in (1, 2, 3):
        lut[k] = np.minimum(255, 255 * lut[k] // ((255 * k + 2) >> 2))
    return lut.astype(np.uint8)


_FROM_MEAN = _premultiplied_mean_lut()


@dataclass
class Picture:
    """An image with its alpha plane (``None`` when fully opaque).

    ``image`` is ``L``/``RGB`` while fully opaque, and also when ``binary``: then alpha is only 0 or
    255 and the colour is 0 wherever alpha is 0 (what GDAL's warper gives off the data), so the
    colour alone is its premultiplied form and halving is a plain reduction plus a table look-up on
    the few pixels with 1 to 3 children with data. Otherwise ``image`` is ``LA``/``RGBA``.
    """

    image: Image.Image
    alpha: NDArray[np.uint8] | None
    binary: bool = False

    @classmethod
    def from_bands(cls, bands: NDArray[np.uint8]) -> Picture:
        """From a ``(C, H, W)`` array whose last band is alpha (as rasterio reads)."""
        alpha = bands[-1]
        colour = [Image.fromarray(np.ascontiguousarray(b)) for b in bands[:-1]]
        image = colour[0] if len(colour) == 1 else Image.merge("RGB", colour)
        if alpha.min() == 255:
            return cls(image, None)
        alpha = np.ascontiguousarray(alpha)
        mask = Image.fromarray(alpha)
        if _is_binary(image, mask):
            return cls(image, alpha, binary=True)
        return cls(Image.merge("LA" if len(colour) == 1 else "RGBA", [*colour, mask]), alpha)

    @classmethod
    def from_array(cls, array: TileImage) -> Picture:
        """From a ``(H, W, C)`` array whose last channel is alpha."""
        return cls.from_bands(np.moveaxis(array, -1, 0))

    @property
    def size(self) -> int:
        """Height in pixels (pyramid images are square)."""
        return int(self.image.height)

    @property
    def colour_mode(self) -> str:
        """``L`` or ``RGB``."""
        return "L" if self.image.mode in ("L", "LA") else "RGB"

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
        if self.binary:
            return self._halved_binary()
        premultiplied = "La" if self.image.mode == "LA" else "RGBa"
        small = self.image.convert(premultiplied).reduce(2).convert(self.image.mode)
        a = self.alpha
        alpha = np.maximum(np.maximum(a[0::2, 0::2], a[0::2, 1::2]), np.maximum(a[1::2, 0::2], a[1::2, 1::2]))
        if alpha.min() == 255:
            return Picture(small.convert(self.colour_mode), None)
        small.putalpha(Image.fromarray(alpha))
        return Picture(small, alpha)

    def _halved_binary(self) -> Picture:
        assert self.alpha is not None
        small = self.image.reduce(2)
        data = self.alpha >> 7
        children = data[0::2, 0::2] + data[0::2, 1::2] + data[1::2, 0::2] + data[1::2, 1::2]
        part = np.nonzero((children > 0) & (children < 4))
        if part[0].size:
            pixels = np.array(small)
            counts = children[part] if pixels.ndim == 2 else children[part][:, None]
            pixels[part] = _FROM_MEAN[counts, pixels[part]]
            small = Image.fromarray(pixels)
        alpha = (children > 0).astype(np.uint8) * np.uint8(255)
        if alpha.min() == 255:
            return Picture(small, None)
        return Picture(small, alpha, binary=True)

    def _with_alpha(self, image: Image.Image, box: Box | None) -> Image.Image:
        """``image`` (the colour of ``box``) with the alpha of ``box`` as its last channel."""
        assert self.alpha is not None
        left, top, right, bottom = box or (0, 0, self.image.width, self.image.height)
        image = image.copy() if box is None else image
        image.putalpha(Image.fromarray(np.ascontiguousarray(self.alpha[top:bottom, left:right])))
        return image

    def array(self, box: Box | None = None) -> TileImage:
        """Pixels of ``box`` (default: all) as a ``(H, W, C)`` array whose last channel is alpha."""
        image = self.image if box is None else self.image.crop(box)
        if self.alpha is None:
            image = image.convert("LA" if image.mode == "L" else "RGBA")
        elif self.binary:
            image = self._with_alpha(image, box)
        return np.asarray(image)

    def encode(self, box: Box, compression: str) -> bytes | None:
        """The tile of ``box`` encoded, or ``None`` if it holds no data.

        JPEG has no alpha: partly transparent pixels are blended onto white. PNG keeps alpha when
        the tile is not fully opaque; ``none`` is PNG without deflate compression.
        """
        tile = self.image.crop(box)
        jpeg = compression.startswith("jpg")
        if self.alpha is not None:
            left, top, right, bottom = box
            alpha = self.alpha[top:bottom, left:right]
            if not alpha.any():
                return None
            colour_mode = self.colour_mode
            if alpha.min() == 255:
                if not self.binary:  # drop the alpha channel (a binary picture's image has none)
                    tile = tile.convert(colour_mode)
            elif jpeg:  # onto white
                background = Image.new(colour_mode, tile.size, _WHITE[colour_mode])
                if self.binary:
                    background.paste(tile, mask=Image.fromarray(np.ascontiguousarray(alpha)))
                else:
                    background.paste(tile.convert(colour_mode), mask=tile.getchannel("A"))
                tile = background
            elif self.binary:
                tile = self._with_alpha(tile, box)
        buf = io.BytesIO()
        if jpeg:
            tile.save(buf, format="JPEG", quality=90 if compression == "jpg90" else JPEG_QUALITY)
        else:
            tile.save(buf, format="PNG", compress_level=0 if compression == "none" else PNG_LEVEL)
        return buf.getvalue()


def _is_binary(colour: Image.Image, alpha: Image.Image) -> bool:
    """True when ``alpha`` is only 0 or 255 and ``colour`` is 0 wherever alpha is 0."""
    counts = alpha.histogram()
    if any(counts[1:255]):
        return False
    off_data = colour.histogram(mask=alpha.point(_INVERT))
    return all(not any(off_data[band * 256 + 1 : band * 256 + 256]) for band in range(len(colour.getbands())))


_INVERT = [255 - v for v in range(256)]


def encode_tile(tile: TileImage, compression: str) -> bytes | None:
    """Encode one ``(H, W, C)`` tile, or ``None`` if it holds no data (see :meth:`Picture.encode`)."""
    if not tile[..., -1].any():
        return None
    h, w = tile.shape[:2]
    return Picture.from_array(tile).encode((0, 0, w, h), compression)


def halve(image: TileImage) -> TileImage:
    """An ``(H, W, C)`` image downsampled by 2 (see :meth:`Picture.halved`)."""
    return Picture.from_array(image).halved().array()
