"""The README's raster tutorial, run as a user would: every `$ gpf-flow ...` command of its
section is executed as a subprocess, in order, against a temporary store home and a real
`gpf-flow serve`. The commands are read from README.md, so the two cannot drift.

The only change made to a command: `gpf-flow serve` gets `--port <free port>` appended (the
README uses the default 8700, which may be taken on a test machine), and URLs are built on that port.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TUTORIAL_HEADING = "## Tutorial: publish a raster as WMS"
PM = morecantile.tms.get("WebMercatorQuad")

pytestmark = pytest.mark.slow


def tutorial_commands() -> dict[int, list[str]]:
    """`$ gpf-flow ...` lines of the tutorial, grouped by its numbered subsections (### N.)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(TUTORIAL_HEADING)
    end = text.find("\n## ", start + len(TUTORIAL_HEADING))
    section = text[start : end if end != -1 else len(text)]
    commands: dict[int, list[str]] = {}
    current: int | None = None
    for line in section.splitlines():
        heading = re.match(r"^### (\d+)\.", line)
        if heading:
            current = int(heading.group(1))
            commands[current] = []
        elif line.startswith("### "):
            current = None  # e.g. the vector variant: not part of the numbered tutorial
        elif current is not None and line.startswith("$ gpf-flow "):
            commands[current].append(line[2:])
    return commands


def test_readme_tutorial_has_the_expected_shape() -> None:
    commands = tutorial_commands()
    assert sorted(commands) == [1, 2, 3, 4, 5, 6]
    assert commands[1] == ["gpf-flow dataset get raster-sample"]
    assert commands[2] == ["gpf-flow upload -f raster-sample/upload_descriptor.jsonc"]
    assert "gpf-flow run wms-generic.jsonc --step mise-en-base" in commands[4]
    assert commands[4][-1] == "gpf-flow run wms-generic.jsonc"
    assert commands[5] == ["gpf-flow serve"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tutorial:
    """Runs tutorial commands in one folder with one store home."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.home = work / "home"
        self.env = {**os.environ, "GPF_FLOW_HOME": str(self.home), "COLUMNS": "200"}
        for key in ("GPF_FLOW_STORE", "GPF_FLOW_CONFIG"):
            self.env.pop(key, None)

    def argv(self, command: str) -> list[str]:
        args = shlex.split(command)
        assert args[0] == "gpf-flow"
        return [sys.executable, "-m", "gpf_flow", *args[1:]]

    def run(self, command: str, timeout: float = 240) -> str:
        done = subprocess.run(
            self.argv(command),
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{output}"
        assert "Traceback" not in output
        return output

    def json(self, command: str) -> object:
        done = subprocess.run(
            self.argv(command), cwd=self.work, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    return Tutorial(tmp_path_factory.mktemp("tutorial"))


@pytest.fixture(scope="module")
def ran_steps_1_to_4(tutorial: Tutorial) -> dict[int, list[str]]:
    commands = tutorial_commands()
    outputs: dict[int, list[str]] = {}
    for number in (1, 2, 3, 4):
        outputs[number] = [tutorial.run(command) for command in commands[number]]
    return outputs


@pytest.fixture(scope="module")
def server(tutorial: Tutorial, ran_steps_1_to_4: dict[int, list[str]]) -> Iterator[str]:
    (command,) = tutorial_commands()[5]
    port = _free_port()
    proc = subprocess.Popen(
        [*tutorial.argv(command), "--port", str(port)],
        cwd=tutorial.work,
        env=tutorial.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "gpf-flow serve exited early"
        try:
            httpx.get(base + "/", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "gpf-flow serve did not start"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def _entities(tutorial: Tutorial, entity_type: str) -> list[dict]:
    result = tutorial.json(f"gpf-flow entities list {entity_type} --json")
    assert isinstance(result, list)
    return result


def test_upload_is_closed(tutorial: Tutorial, ran_steps_1_to_4: dict[int, list[str]]) -> None:
    uploads = _entities(tutorial, "upload")
    assert [(u["name"], u["status"]) for u in uploads] == [("EXAMPLE_DATASET_RASTER", "CLOSED")]


def _source_footprint_3857(tutorial: Tutorial) -> shapely.Geometry:
    boxes = []
    for tif in sorted((tutorial.work / "raster-sample").rglob("*.tif")):
        with rasterio.open(tif) as src:
            assert src.crs.to_epsg() == 2154
            boxes.append(shapely.box(*src.bounds))
    outline = shapely.segmentize(shapely.union_all(boxes), 5.0)
    to_3857 = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    return shapely.transform(outline, lambda xy: np.column_stack(to_3857.transform(xy[:, 0], xy[:, 1])))


def test_pyramid_tiles_match_the_extent(tutorial: Tutorial, ran_steps_1_to_4: dict[int, list[str]]) -> None:
    (pyramid,) = [s for s in _entities(tutorial, "stored_data") if s["type"] == "ROK4-PYRAMID-RASTER"]
    assert pyramid["status"] == "GENERATED"
    bottom = int(pyramid["type_infos"]["bottom_level"])
    mbtiles = tutorial.home / "stored_data" / pyramid["_id"] / "pyramid.mbtiles"
    with sqlite3.connect(mbtiles) as db:
        counts = dict(db.execute("SELECT zoom_level, count(*) FROM tiles GROUP BY zoom_level").fetchall())
    assert {str(z): n for z, n in counts.items()} == {
        z: n for z, n in pyramid["type_infos"]["tiles"].items() if n
    }
    # bottom level: every tile meeting the data shrunk by a pixel is there, none beyond it grown by one
    footprint = _source_footprint_3857(tutorial)
    res = PM.matrix(bottom).cellSize
    sure_zone, possible_zone = footprint.buffer(-res), footprint.buffer(res)
    lonlat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform_bounds(
        *possible_zone.bounds
    )
    sure = possible = 0
    for tile in PM.tiles(*lonlat, [bottom]):
        b = PM.xy_bounds(tile)
        box = shapely.box(b.left, b.bottom, b.right, b.top)
        possible += box.intersection(possible_zone).area > 0
        sure += box.intersection(sure_zone).area > 0
    assert sure <= counts[bottom] <= possible


def test_configurations_and_offerings(tutorial: Tutorial, ran_steps_1_to_4: dict[int, list[str]]) -> None:
    configurations = {c["type"] for c in _entities(tutorial, "configuration")}
    assert configurations == {"WMS-RASTER", "WMTS-TMS"}
    offerings = _entities(tutorial, "offering")
    assert sorted((o["type"], o["status"]) for o in offerings) == [
        ("WMS-RASTER", "PUBLISHED"),
        ("WMTS-TMS", "PUBLISHED"),
    ]
    # the run printed the link of the WMS offering
    assert any("/wms-r?SERVICE=WMS" in out for out in ran_steps_1_to_4[4])


def _layer_and_bbox(tutorial: Tutorial) -> tuple[str, list[float]]:
    (offering,) = [o for o in _entities(tutorial, "offering") if o["type"] == "WMS-RASTER"]
    (pyramid,) = [s for s in _entities(tutorial, "stored_data") if s["type"] == "ROK4-PYRAMID-RASTER"]
    return offering["layer_name"], pyramid["type_infos"]["bbox"]


def test_wms_getmap_shows_the_data(tutorial: Tutorial, server: str) -> None:
    layer, bbox = _layer_and_bbox(tutorial)
    response = httpx.get(
        f"{server}/wms-r",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": layer,
            "STYLES": "",
            "CRS": "CRS:84",
            "BBOX": ",".join(map(str, bbox)),
            "WIDTH": "256",
            "HEIGHT": "256",
            "FORMAT": "image/png",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (256, 256)
    colours = image.getcolors(maxcolors=256 * 256)
    assert colours is not None and len(colours) > 10, "the map is one flat colour"


def test_wmts_gettile_returns_an_image(tutorial: Tutorial, server: str) -> None:
    layer, bbox = _layer_and_bbox(tutorial)
    center = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
    tile = PM.tile(*center, 17)
    response = httpx.get(f"{server}/tms/1.0.0/{layer}/{tile.z}/{tile.x}/{tile.y}.jpeg", timeout=30)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (256, 256)


def test_run_state_and_second_run(tutorial: Tutorial, server: str) -> None:
    status = tutorial.json("gpf-flow status wms-generic.jsonc --output json")
    assert isinstance(status, list | dict)
    rows = status if isinstance(status, list) else status.get("steps", [])
    assert {row["step"]: row["status"] for row in rows} == {
        "mise-en-base": "done",
        "configuration-wms": "done",
        "publication-wms": "done",
        "configuration-wmts": "done",
        "publication-wmts": "done",
    }
    again = tutorial.run("gpf-flow run wms-generic.jsonc")
    assert "nothing to do" in again.lower()
    assert "created" not in again


def test_step_6_commands_run(tutorial: Tutorial, server: str) -> None:
    outputs = [tutorial.run(command) for command in tutorial_commands()[6]]
    assert outputs
    assert [o["status"] for o in _entities(tutorial, "offering")] == []
