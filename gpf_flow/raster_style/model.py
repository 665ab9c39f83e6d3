"""ROK4 raster styles (statics of type ``ROK4-STYLE``): parsed from their JSON, with errors naming the field.

A ROK4 style (https://github.com/rok4/styles) has an ``identifier`` (its name in the services),
``title``/``abstract``/``keywords``, an optional ``legend`` (an image elsewhere) and what it
does to the pixels: a ``palette`` (colours by value), after at most one terrain treatment
(``estompage``: hillshade, ``pente``: slope, ``exposition``: aspect). A style with none of them
is the identity (the data as stored).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gpf_flow import strict_json
from gpf_flow.errors import GpfFlowError

TERRAIN_KEYS = ("estompage", "pente", "exposition")


MAX_STYLE_DEPTH = 16
"""ROK4 styles nest four levels; deeper documents are refused before validation."""


class StyleError(GpfFlowError):
    """A ROK4 style that cannot be read; the message names the field at fault."""


@dataclass(frozen=True)
class Colour:
    """One palette entry: the colour of ``value``."""

    value: float
    rgba: tuple[int, int, int, int]


@dataclass(frozen=True)
class Palette:
    """Colours by ascending value.

    Discrete (``rgb_continuous``/``alpha_continuous`` false): a colour holds from its value up to
    the next one's. Continuous: linear between two entries. Values below the first entry take
    its colour, values above the last take the last one's. ``no_alpha``: always opaque.
    """

    colours: tuple[Colour, ...]
    rgb_continuous: bool = False
    alpha_continuous: bool = False
    no_alpha: bool = False


@dataclass(frozen=True)
class Legend:
    """The style's own legend image (``legend`` entry)."""

    url: str
    format: str = "image/png"
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Hillshade:
    """``estompage``: sun ``elevation`` above the horizon and ``azimuth`` clockwise from north (degrees).

    ROK4 names the elevation ``zenith`` (and uses 90° minus it as the zenith angle).
    """

    elevation: float = 45.0
    azimuth: float = 315.0
    z_factor: float = 1.0


@dataclass(frozen=True)
class Slope:
    """``pente``: the slope in ``degree`` or ``percent``, capped at ``slope_max``."""

    unit: str = "degree"
    slope_max: float = 90.0


@dataclass(frozen=True)
class Aspect:
    """``exposition``: downhill direction in degrees clockwise from north; ``nodata`` where flatter than
    ``min_slope`` degrees."""

    min_slope: float = 1.0
    nodata: float = -1.0


Terrain = Hillshade | Slope | Aspect


@dataclass(frozen=True)
class RasterStyle:
    """A parsed ROK4 style."""

    identifier: str
    title: str
    abstract: str = ""
    keywords: tuple[str, ...] = ()
    legend: Legend | None = None
    palette: Palette | None = None
    terrain: Terrain | None = None

    @property
    def is_identity(self) -> bool:
        """True when the style leaves the pixels as stored."""
        return self.palette is None and self.terrain is None


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _where(path: Any) -> str:
    """``palette.colours[2].red`` from a jsonschema error's path."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the style"


def parse_style(data: bytes | str, source: str = "style") -> RasterStyle:
    """The style in ``data`` (ROK4 JSON); :class:`StyleError` names the first field at fault."""
    try:
        doc = strict_json.loads(data, MAX_STYLE_DEPTH)
    except strict_json.StrictJsonError as exc:
        raise StyleError(f"{source}: the document {exc}") from None
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        raise StyleError(f"{source}: {_where(first.absolute_path)}: {first.message}")
    terrains = [k for k in TERRAIN_KEYS if k in doc]
    if len(terrains) > 1:
        raise StyleError(f"{source}: {' and '.join(terrains)}: a style has at most one of them")
    return RasterStyle(
        identifier=doc["identifier"],
        title=doc.get("title") or doc["identifier"],
        abstract=doc.get("abstract", ""),
        keywords=tuple(doc.get("keywords", ())),
        legend=_legend(doc.get("legend")),
        palette=_palette(doc["palette"], source) if "palette" in doc else None,
        terrain=_terrain(doc, terrains[0]) if terrains else None,
    )


def _legend(entry: dict[str, Any] | None) -> Legend | None:
    if not entry or not entry.get("url"):
        return None
    return Legend(entry["url"], entry.get("format", "image/png"), entry.get("width"), entry.get("height"))


def _palette(entry: dict[str, Any], source: str) -> Palette:
    colours: list[Colour] = []
    for i, c in enumerate(entry["colours"]):
        if colours and c["value"] <= colours[-1].value:
            raise StyleError(
                f"{source}: palette.colours[{i}].value: {c['value']} is not above the previous value "
                f"{colours[-1].value} (colours go by ascending value)"
            )
        colours.append(Colour(float(c["value"]), (c["red"], c["green"], c["blue"], c["alpha"])))
    return Palette(
        tuple(colours),
        rgb_continuous=entry.get("rgb_continuous", False),
        alpha_continuous=entry.get("alpha_continuous", False),
        no_alpha=entry.get("no_alpha", False),
    )


def _terrain(doc: dict[str, Any], key: str) -> Terrain:
    entry = doc[key]
    if key == "estompage":
        return Hillshade(
            float(entry.get("zenith", 45.0)),
            float(entry.get("azimuth", 315.0)),
            float(entry.get("z_factor", 1)),
        )
    if key == "pente":
        unit = "percent" if entry.get("unit") in ("percent", "pourcent") else "degree"
        return Slope(unit, float(entry.get("slope_max", 90.0)))
    return Aspect(float(entry.get("min_slope", 1.0)), float(entry.get("aspect_nodata", -1.0)))
