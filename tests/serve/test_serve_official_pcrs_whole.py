"""The official ``PCRS`` workflow, all seven steps, on the local store (gpf-flow run, unchanged file).

``test_serve_official_raster_workflows`` runs the build and update steps; here the workflow goes on
as a producer would: the old pyramid published beside the new one (``publication_old``), then
taken down with its configurations and stored data (``depublication``), and the delivery deleted
(``upload_delete``). The pyramids are JPEG with ``mask: true``, as PCRS asks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_serve_ogc_support import deliver

from gpf_flow.store.local import LocalStore
from gpf_flow.store.local.layout import stored_data_dir

sdk = pytest.importorskip("sdk_entrepot_gpf", reason="the official SDK is a test dependency (dev extras)")

from test_serve_official_raster_workflows import OFFICIAL, gpf_flow, ortho_5cm  # noqa: E402

PARAMS = ["-p", "producteur", "CHANTIER", "-p", "old_version", "", "-p", "new_version", "2"]


def run_step(home: Path, step: str) -> None:
    # the deletions ask for a confirmation (the SDK reads stdin): --yes gives it
    yes = ["--yes"] if step in ("depublication", "upload_delete") else []
    done = gpf_flow(home, "run", str(OFFICIAL / "PCRS.jsonc"), "--step", step, *PARAMS, *yes)
    assert done.returncode == 0, (step, done.stdout[-4000:] + done.stderr[-4000:])


def names(store: LocalStore, kind: str) -> dict[str, dict]:
    return {e["name"]: e for e in store.list_entities(kind, limit=100).items}


def offerings(store: LocalStore) -> dict[str, dict]:
    """Offerings by their configuration's name."""
    confs = {c["_id"]: c["name"] for c in store.list_entities("configuration", limit=100).items}
    out = {}
    for offering in store.list_entities("offering", limit=100).items:
        conf_id = (
            offering["configuration"]["_id"]
            if isinstance(offering["configuration"], dict)
            else offering["configuration"]
        )
        out[confs[conf_id]] = store.get_entity("offering", offering["_id"])
    return out


@pytest.mark.slow
def test_pcrs_all_steps(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = LocalStore(home)
    try:
        old = deliver(store, ortho_5cm(tmp_path / "v1", (200, 40, 40), 0.0), "CHANTIER", "RASTER")
        store.add_tags("upload", old["_id"], {"type": "PCRS"})  # what upload_delete looks for
        new = deliver(store, ortho_5cm(tmp_path / "v2", (40, 40, 200), 10.0), "CHANTIER_v2", "RASTER")
        store.add_tags("upload", new["_id"], {"version": "2"})
    finally:
        store.close()
    for step in ("pyramide", "publication", "pyramide_maj", "publication_maj", "publication_old"):
        run_step(home, step)
    store = LocalStore(home)
    try:
        stored = names(store, "stored_data")
        assert set(stored) == {"CHANTIER", "CHANTIER2"}
        for data in stored.values():
            path = store.stored_data_dir(data["_id"]) / "pyramid.mbtiles"
            assert data["status"] == "GENERATED" and path.is_file()
            with sqlite3.connect(path) as db:  # mask: true on JPEG: the partly covered tiles record it
                meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
                masks = db.execute("SELECT COUNT(*) FROM tile_masks").fetchone()[0]
            assert meta["format"] == "jpg" and meta["mask"] == "true" and masks > 0
        published = offerings(store)
        assert set(published) == {"CHANTIER_WMTS", "CHANTIER_WMSR", "CHANTIER_old_WMTS", "CHANTIER_old_WMSR"}
        assert {o["status"] for o in published.values()} == {"PUBLISHED"}
        confs = names(store, "configuration")
        used = {n: [u["stored_data"] for u in c["type_infos"]["used_data"]] for n, c in confs.items()}
        assert used["CHANTIER_old_WMTS"] == used["CHANTIER_old_WMSR"] == [stored["CHANTIER"]["_id"]]
        assert used["CHANTIER_WMTS"] == used["CHANTIER_WMSR"] == [stored["CHANTIER2"]["_id"]]
    finally:
        store.close()

    run_step(home, "depublication")
    store = LocalStore(home)
    try:
        # the current offerings go; the configurations of the old pyramid go with it (cascade)
        assert offerings(store) == {}
        assert set(names(store, "configuration")) == {"CHANTIER_WMTS", "CHANTIER_WMSR"}
        assert set(names(store, "stored_data")) == {"CHANTIER2"}
        assert not stored_data_dir(home, stored["CHANTIER"]["_id"]).exists()  # its files too
        assert set(names(store, "upload")) == {"CHANTIER", "CHANTIER_v2"}
    finally:
        store.close()

    run_step(home, "upload_delete")
    store = LocalStore(home)
    try:
        assert set(names(store, "upload")) == {"CHANTIER_v2"}  # only the one tagged type=PCRS
        assert set(names(store, "stored_data")) == {"CHANTIER2"}
    finally:
        store.close()
