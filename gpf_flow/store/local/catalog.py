"""The fixed documents of the local store: user, datastore, endpoints, offering URLs."""

from __future__ import annotations

import uuid
from typing import Any

Entity = dict[str, Any]

# (type, technical name, display name, url path) of every endpoint of the local datastore.
ENDPOINTS: tuple[tuple[str, str, str, str], ...] = (
    ("WMS-RASTER", "gpf-rok4-server-wms-r", "Service WMS raster", "wms-r"),
    ("WMS-VECTOR", "gpf-geoserver-wms-v", "Service WMS vecteur", "wms-v"),
    ("WMTS-TMS", "gpf-rok4-server-wmts-tms", "Service WMTS/TMS", "wmts"),
    ("WFS", "gpf-geoserver-wfs", "Service WFS", "wfs"),
    ("DOWNLOAD", "gpf-download-private", "Service de téléchargement", "download"),
)

CONFIGURATION_TYPES = (
    "WFS",
    "WMTS-TMS",
    "WMS-VECTOR",
    "WMS-RASTER",
    "DOWNLOAD",
    "ITINERARY-ISOCURVE",
    "ALTIMETRY",
    "SEARCH",
    "VECTOR-TMS",
)

STATIC_TYPES = ("GEOSERVER-FTL", "GEOSERVER-STYLE", "ROK4-STYLE", "DERIVATION-SQL")

_URL_TYPES = {
    "WMS-RASTER": "WMS",
    "WMS-VECTOR": "WMS",
    "WMTS-TMS": "WMTS",
    "WFS": "WFS",
    "DOWNLOAD": "DOWNLOAD",
}


def endpoint_id(datastore_id: str, technical_name: str) -> str:
    """Endpoint ids are stable for a datastore."""
    return str(uuid.uuid5(uuid.UUID(datastore_id), technical_name))


def endpoints(datastore_id: str, base: str) -> list[Entity]:
    """The endpoints of the local datastore, as ``GET {DS}`` shows them."""
    result = []
    for ep_type, technical, name, path in ENDPOINTS:
        result.append(
            {
                "_id": endpoint_id(datastore_id, technical),
                "name": name,
                "technical_name": technical,
                "type": ep_type,
                "open": True,
                "urls": [{"type": _URL_TYPES[ep_type], "url": f"{base}/{path}"}],
            }
        )
    return result


def user_document(settings: dict[str, Any]) -> Entity:
    """``GET /users/me``."""
    user = settings["user"]
    community = settings["community"]
    return {
        "_id": user["_id"],
        "email": user.get("email", ""),
        "first_name": user.get("first_name", ""),
        "last_name": user.get("last_name", ""),
        "creation": user.get("creation", ""),
        "communities_member": [
            {
                "rights": ["COMMUNITY", "UPLOAD", "PROCESSING", "BROADCAST", "ANNEX"],
                "community": {
                    "_id": community["_id"],
                    "name": community.get("name", ""),
                    "technical_name": community.get("technical_name", ""),
                    "datastore": settings["datastore"]["_id"],
                    "public": False,
                },
            }
        ],
    }


def datastore_document(settings: dict[str, Any], base: str) -> Entity:
    """``GET {DS}``, with ``endpoints[]`` as ``{"endpoint", "quota", "use"}``."""
    ds = settings["datastore"]
    return {
        "_id": ds["_id"],
        "name": ds.get("name", ""),
        "technical_name": ds.get("technical_name", ""),
        "active": True,
        "storages": {
            "data": [
                {"type": "FILESYSTEM", "use": 0, "quota": 10**12},
                {"type": "POSTGRESQL", "use": 0, "quota": 10**12},
            ],
            "uploads": {"use": 0, "quota": 10**12},
        },
        "endpoints": [{"endpoint": ep, "quota": 1000, "use": 0} for ep in endpoints(ds["_id"], base)],
    }


def tile_extension(stored_data: Entity | None) -> str:
    """``jpeg``, ``png`` or ``pbf`` for a pyramid's TMS URL."""
    if stored_data is None:
        return "jpeg"
    if stored_data.get("type") == "ROK4-PYRAMID-VECTOR":
        return "pbf"
    fmt = str((stored_data.get("type_infos") or {}).get("format", "")).lower()
    return "png" if "png" in fmt else "jpeg"


def offering_urls(
    base: str, offering_id: str, offering_type: str, layer_name: str, stored_data: Entity | None
) -> list[dict[str, str]]:
    """The service URLs of an offering (computed at read time from the public URL)."""
    urls: list[dict[str, str]] = []
    if offering_type == "WMS-RASTER":
        urls.append({"type": "WMS", "url": f"{base}/wms-r?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"})
    elif offering_type == "WMS-VECTOR":
        urls.append({"type": "WMS", "url": f"{base}/wms-v?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"})
    elif offering_type == "WMTS-TMS":
        urls.append(
            {"type": "WMTS", "url": f"{base}/wmts?SERVICE=WMTS&VERSION=1.0.0&REQUEST=GetCapabilities"}
        )
        ext = tile_extension(stored_data)
        urls.append({"type": "TMS", "url": f"{base}/tms/1.0.0/{layer_name}/{{z}}/{{x}}/{{y}}.{ext}"})
    elif offering_type == "WFS":
        urls.append({"type": "WFS", "url": f"{base}/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities"})
    elif offering_type == "DOWNLOAD":
        urls.append({"type": "DOWNLOAD", "url": f"{base}/download/{layer_name}"})
    urls.append({"type": "PREVIEW", "url": f"{base}/preview/{offering_id}"})
    return urls
