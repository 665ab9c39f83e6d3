"""The official generic_maj_bdd and generic_vecteur workflows, unchanged, on the local store with PostGIS.

The data is generated in the shape of the official samples (``5_dataset_maj_bd_gpf``,
``1_dataset_vector``); the styles are the samples' own SLD files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sdk_entrepot_gpf
import shapely
from pg_samples import write_maj_bdd_lots
from pyogrio.raw import write
from store_test_helpers import wait_status

from gpf_flow.delivery.descriptor import load_descriptor
from gpf_flow.delivery.uploader import deliver
from gpf_flow.engine.options import RunOptions
from gpf_flow.engine.runner import run
from gpf_flow.postgis.cluster import EmbeddedCluster
from gpf_flow.postgis.database import database_for, schema_name
from gpf_flow.processings.base import processing_id
from gpf_flow.store.local import LocalStore
from gpf_flow.workflow.load import load_workflow

pytestmark = pytest.mark.slow
SDK_DATA = Path(sdk_entrepot_gpf.__file__).parent / "_data"


def _descriptor(folder: Path, datasets: list[tuple[str, str, str]]) -> Path:
    document = {
        "datasets": [
            {
                "data_dirs": [data_dir],
                "upload_infos": {"description": name, "name": name, "srs": srs, "type": "VECTOR"},
                "comments": [f"generated like the official sample ({name})"],
                "tags": {"tuto": "oui"},
            }
            for data_dir, name, srs in datasets
        ]
    }
    path = folder / "upload_descriptor.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def store(pg_home: Path, tmp_path: Path) -> Iterator[LocalStore]:
    home = tmp_path / "home"
    EmbeddedCluster(home)  # skips (or fails under CI) without PostgreSQL
    os.environ.pop("GPF_FLOW_POSTGRES", None)
    with LocalStore(home, workers=2) as local:
        yield local
    assert EmbeddedCluster(home).server_pid() is None  # closing the store stopped its cluster


def _run(store: LocalStore, name: str) -> None:
    workflow = load_workflow(SDK_DATA / "workflows" / name)
    result = run(workflow, store, RunOptions(jobs=2))
    assert result.ok, result.failed
    return None


def _stored(store: LocalStore, name: str) -> dict:
    (entity,) = [e for e in store.list_entities("stored_data", limit=50).items if e["name"] == name]
    return store.get_entity("stored_data", entity["_id"])


def test_generic_maj_bdd_runs_whole(store: LocalStore, tmp_path: Path) -> None:
    folder = tmp_path / "maj"
    write_maj_bdd_lots(folder, n2=40, n3=9)
    names = [(f"lot_{i}", f"EXAMPLE_DATASET_MAJ_BDD_{i}", "EPSG:4326") for i in (1, 2, 3)]
    deliver(store, load_descriptor(_descriptor(folder, names)))
    store.create_static(
        SDK_DATA / "datasets" / "5_dataset_maj_bd_gpf" / "installation.sld",
        "Style pour les installations",
        "GEOSERVER-STYLE",
    )
    _run(store, "generic_maj_bdd.jsonc")
    last_name = store.user_me().get("last_name")
    sd = _stored(store, f"{last_name}__maj_bdd")
    counts = {r["name"]: (r["type"], r["count"]) for r in sd["type_infos"]["relations"]}
    assert counts == {"installation": ("TABLE", 49), "installation_autorisation": ("VIEW", 17)}
    rows = database_for(store.home).query(
        schema_name(sd["_id"]), "SELECT count(*) AS n FROM installation WHERE id >= 5000"
    )
    assert rows == [{"n": 9}]
    offerings = store.list_entities("offering", limit=50).items
    assert [o["status"] for o in offerings] == ["PUBLISHED"]


def _write_cantons(folder: Path) -> None:
    """CANTON/CANTON.shp like the official sample: polygons in Lambert-93, fields ID, INSEE_*."""
    shp = folder / "CANTON" / "CANTON.shp"
    shp.parent.mkdir(parents=True)
    polygons = [shapely.box(650000 + i * 5000, 6860000, 655000 + i * 5000, 6865000) for i in range(6)]
    write(
        shp,
        np.array([shapely.to_wkb(p) for p in polygons], dtype=object),
        [
            np.array([f"CANTON{i:04d}" for i in range(6)], dtype=object),
            np.array([f"75{i:02d}" for i in range(6)], dtype=object),
            np.array(["75"] * 6, dtype=object),
            np.array(["11"] * 6, dtype=object),
        ],
        ["ID", "INSEE_CAN", "INSEE_DEP", "INSEE_REG"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:2154",
        encoding="UTF-8",
    )


def test_generic_vecteur_runs_whole(store: LocalStore, tmp_path: Path) -> None:
    folder = tmp_path / "vector"
    _write_cantons(folder)
    deliver(store, load_descriptor(_descriptor(folder, [("CANTON", "EXAMPLE_DATASET_VECTOR", "EPSG:2154")])))
    store.create_static(
        SDK_DATA / "datasets" / "1_dataset_vector" / "CANTON_style.sld", "style_canton", "GEOSERVER-STYLE"
    )
    _run(store, "generic_vecteur.jsonc")
    offerings = store.list_entities("offering", limit=50).items
    assert len(offerings) == 3 and {o["status"] for o in offerings} == {"PUBLISHED"}
    last_name = store.user_me().get("last_name")
    base = _stored(store, f"{last_name}__Base_intermédiaire")
    (canton,) = base["type_infos"]["relations"]
    assert canton["name"] == "canton" and canton["geometry_column"] == "wkb_geometry"
    assert list(canton["attributes"]) == ["ogc_fid", "id", "insee_can", "insee_dep", "insee_reg"]
    pyramid = _stored(store, f"{last_name}__Pyramide_vecteur")
    assert pyramid["status"] == "GENERATED"
    assert pyramid["type_infos"]["tables"] == [
        {"name": "canton", "attributes": ["id", "insee_dep", "insee_reg", "insee_can"]}
    ]
    assert sum(pyramid["type_infos"]["tiles"].values()) > 0


def test_deleting_the_stored_data_drops_its_schema(store: LocalStore, tmp_path: Path) -> None:
    folder = tmp_path / "vector"
    _write_cantons(folder)
    deliver(store, load_descriptor(_descriptor(folder, [("CANTON", "EXAMPLE_DATASET_VECTOR", "EPSG:2154")])))
    (upload,) = store.list_entities("upload", limit=50).items
    ex = store.create_processing_execution(
        {
            "processing": processing_id("Intégration de données vecteur livrées en base"),
            "inputs": {"upload": [upload["_id"]]},
            "output": {"stored_data": {"name": "base"}},
            "parameters": {},
        }
    )
    store.launch_processing_execution(ex["_id"])
    final = wait_status(store, "processing_execution", ex["_id"], {"SUCCESS", "FAILURE"}, timeout=120)
    assert final["status"] == "SUCCESS", store.processing_execution_logs(ex["_id"])
    sd = _stored(store, "base")
    schema = schema_name(sd["_id"])
    db = database_for(store.home)
    assert db.schema_exists(schema)
    store.delete_entity("stored_data", sd["_id"])
    assert not db.schema_exists(schema)
