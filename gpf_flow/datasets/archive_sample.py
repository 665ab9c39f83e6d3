"""``archive-sample``: one zip holding the zones shapefile, its style and a README.

Zip entries get a fixed date and fixed permissions, so the archive is byte-identical on every run.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from gpf_flow.datasets import vector_sample

DATA_DIR = "ZONES_ARCHIVE"
ZIP_NAME = "zones.zip"
_DATE = (2026, 1, 1, 0, 0, 0)
_README = """Sample archive made by gpf-flow.

ZONES/ZONES.shp: 30 polygons in Lambert-93 (EPSG:2154), fields CODE, NOM, POPULATION, INSEE_DEP.
style_zones.sld: SLD 1.0.0 style colouring zones by insee_dep.
"""


def write_zip(folder: Path) -> Path:
    """Write ``zones.zip`` into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ZIP_NAME
    with tempfile.TemporaryDirectory(prefix="gpf-flow-archive-") as tmp:
        shp_dir = Path(tmp) / vector_sample.DATA_DIR
        vector_sample.write_shapefile(shp_dir)
        members: list[tuple[str, bytes]] = [("README.txt", _README.encode("utf-8"))]
        members += [(f"ZONES/{p.name}", p.read_bytes()) for p in sorted(shp_dir.iterdir())]
        members.append((vector_sample.STYLE_FILE, vector_sample.style_sld().encode("utf-8")))
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compresslevel=6)
    return path
