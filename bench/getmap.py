"""GetMap latency and throughput of the raster WMS (``/wms-r``), next to the in-process floor.

Builds an ortho-like raster (0.5 m, EPSG:2154), runs the real pyramid processing through a
LocalStore, publishes it as WMS-RASTER and WMTS-TMS offerings, starts the real ``gpf-flow serve``
with its DEFAULT settings (maps drawn by one process per core) and measures:

- latency (median, p95 over N requests, one client) of GetMap JPEG 256² and 1024² in EPSG:3857
  and EPSG:2154, over random boxes inside the data at about native resolution (off the tiles:
  drawn by MapProxy or the own renderer), and of 256² GetMaps that are one stored tile;
- throughput of GetMap 256² with 8 concurrent clients (keep-alive ``http.client`` connections,
  opened before, as the floor's processes are started), next to the floor run by as many
  processes as cores over as many boxes (the "two-process floor" on 2 cores; goal ≥ 50 %), in
  alternating rounds;
- the latency of cheap requests (a WMTS tile, an API list of stored data) alone, then while the
  8 clients load the server with GetMaps (goal: within 3× of alone); the GetMap throughput
  meanwhile is printed apart, as that of 8 clients plus a 9th sending cheap requests.

The floor, measured in the same run: read the same pyramid tiles from SQLite, decode them,
resample (bicubic; reprojection for 2154) and encode the JPEG, in process, no HTTP.
Usage: ``python bench/getmap.py [--requests 200]``; record ``uptime`` with the figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import io
import json
import math
import multiprocessing
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
from PIL import Image
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))
from test_serve_ogc_support import RASTER_PROCESSING, deliver, free_port, process, publish  # noqa: E402

from gpf_flow.store.local import LocalStore  # noqa: E402

LAYER = "bench_ortho"
TILE_LAYER = "bench_ortho_tiles"
WORLD = 20037508.342789244
NATIVE_RES = {"EPSG:3857": 0.597, "EPSG:2154": 0.5}  # metres per pixel at z18 / in the source


# -- setup ---------------------------------------------------------------------------------------
def write_tiles(folder: Path, n: int, size: int, res: float, seed: int) -> list[Path]:
    """An n×n grid of ortho-like RGB GeoTIFFs (smooth structure plus texture) in EPSG:2154."""
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    paths = []
    for row in range(n):
        for col in range(n):
            rng = np.random.default_rng(seed + row * n + col)
            base = 110 + 60 * np.sin(xx * 9 + col) * np.cos(yy * 7 + row) + 30 * np.sin((xx + yy) * 31)
            bands = [np.clip(base + s + rng.normal(0, 14, (size, size)), 1, 254) for s in (0, 12, -18)]
            path = folder / f"tile_{row}_{col}.tif"
            transform = from_origin(870_000 + col * size * res, 6_570_000 - row * size * res, res, res)
            with rasterio.open(
                path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:2154",
                transform=transform, tiled=True, compress="deflate",
            ) as dst:  # fmt: skip
                dst.write(np.stack(bands).astype(np.uint8))
            paths.append(path)
    return paths


def build(home: Path, tmp: Path) -> tuple[Path, tuple[float, float, float, float]]:
    """The published pyramid's file and the source extent in EPSG:2154."""
    folder = tmp / "raster"
    paths = write_tiles(folder, n=2, size=1000, res=0.5, seed=3)
    import rasterio

    bounds = [rasterio.open(p).bounds for p in paths]
    extent = (
        min(b.left for b in bounds),
        min(b.bottom for b in bounds),
        max(b.right for b in bounds),
        max(b.top for b in bounds),
    )
    with LocalStore(home) as store:
        upload = deliver(store, folder, "BENCH_RASTER", "RASTER")
        started = time.perf_counter()
        stored = process(store, RASTER_PROCESSING, upload, "bench_pyramid", {"compression": "jpg"})
        print(f"pyramid built in {time.perf_counter() - started:.1f} s: {stored['type_infos'].get('tiles')}")
        publish(store, "WMS-RASTER", LAYER, {"used_data": [{"stored_data": stored["_id"]}]})
        publish(store, "WMTS-TMS", TILE_LAYER, {"used_data": [{"stored_data": stored["_id"]}]})
        return store.stored_data_dir(stored["_id"]) / "pyramid.mbtiles", extent


def start_server(home: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(home), *extra]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/wms-r?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities", timeout=5)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gpf-flow serve did not start:\n{log.read_text()}")


# -- requests ------------------------------------------------------------------------------------
def boxes(
    extent: tuple[float, float, float, float], crs: str, size: int, n: int, seed: int
) -> list[tuple[float, ...]]:
    """n random boxes of ``size`` pixels at native resolution, inside the data, in ``crs``."""
    rng = random.Random(seed)
    to_crs = Transformer.from_crs("EPSG:2154", crs, always_xy=True)
    x0, y0, x1, y1 = to_crs.transform_bounds(*extent) if crs != "EPSG:2154" else extent
    span = size * NATIVE_RES[crs]
    out = []
    for _ in range(n):
        bx = rng.uniform(x0, max(x0, x1 - span))
        by = rng.uniform(y0, max(y0, y1 - span))
        out.append((bx, by, bx + span, by + span))
    return out


def params(crs: str, bbox: tuple[float, ...], size: int) -> dict[str, str]:
    return {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": LAYER, "STYLES": "",
        "CRS": crs, "BBOX": ",".join(f"{v:.3f}" for v in bbox), "WIDTH": str(size), "HEIGHT": str(size),
        "FORMAT": "image/jpeg",
    }  # fmt: skip


# -- the floor: same pixels, in process ----------------------------------------------------------
class Floor:
    """Read + decode the pyramid tiles, resample bicubic to the asked map, encode JPEG."""

    def __init__(self, mbtiles: Path) -> None:
        self.conn = sqlite3.connect(f"file:{mbtiles}?mode=ro", uri=True, check_same_thread=False)
        self.maxzoom = int(self.conn.execute("SELECT MAX(zoom_level) FROM tiles").fetchone()[0])
        self.to_3857: dict[str, Transformer] = {}

    def _to_3857(self, crs: str) -> Transformer:
        if crs not in self.to_3857:
            self.to_3857[crs] = Transformer.from_crs(crs, "EPSG:3857", always_xy=True)
        return self.to_3857[crs]

    def _mesh(
        self, crs: str, bbox: tuple[float, ...], size: int, left: float, top: float, px: float
    ) -> list[tuple[tuple[int, int, int, int], tuple[float, ...]]]:
        """Pillow MESH quads mapping the map's pixels to the mosaic's."""
        t = self._to_3857(crs)
        n = max(1, size // 256)  # quads of 256 px: far below a pixel of error at these extents
        step = size / n
        ii, jj = np.meshgrid(np.arange(n + 1) * step, np.arange(n + 1) * step)
        x = bbox[0] + ii * (bbox[2] - bbox[0]) / size
        y = bbox[3] - jj * (bbox[3] - bbox[1]) / size
        mx, my = t.transform(x, y)
        sx, sy = (mx - left) / px, (top - my) / px
        quads = []
        for j in range(n):
            for i in range(n):
                target = (round(i * step), round(j * step), round((i + 1) * step), round((j + 1) * step))
                corners = (j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)  # nw, sw, se, ne
                quads.append((target, tuple(v for c in corners for v in (sx[c], sy[c]))))
        return quads

    def getmap(self, crs: str, bbox: tuple[float, ...], size: int) -> bytes:
        if crs == "EPSG:3857":
            mx0, my0, mx1, my1 = bbox
        else:
            t = self._to_3857(crs)
            mx0, my0, mx1, my1 = t.transform_bounds(*bbox)
        res = (mx1 - mx0) / size
        z = min(self.maxzoom, max(0, round(math.log2(2 * WORLD / 256 / res))))
        tile_m = 2 * WORLD / (1 << z)
        tx0, tx1 = int((mx0 + WORLD) // tile_m), int((mx1 + WORLD) // tile_m)
        ty0, ty1 = int((WORLD - my1) // tile_m), int((WORLD - my0) // tile_m)
        mosaic = Image.new("RGB", ((tx1 - tx0 + 1) * 256, (ty1 - ty0 + 1) * 256), (255, 255, 255))
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                row = self.conn.execute(
                    "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                    (z, tx, (1 << z) - 1 - ty),
                ).fetchone()
                if row:
                    mosaic.paste(
                        Image.open(io.BytesIO(row[0])).convert("RGB"), ((tx - tx0) * 256, (ty - ty0) * 256)
                    )
        left, top = tx0 * tile_m - WORLD, WORLD - ty0 * tile_m
        px = tile_m / 256
        if crs == "EPSG:3857":
            box = ((mx0 - left) / px, (top - my1) / px, (mx1 - left) / px, (top - my0) / px)
            out = mosaic.resize((size, size), Image.Resampling.BICUBIC, box=box)
        else:
            mesh = self._mesh(crs, bbox, size, left, top, px)
            out = mosaic.transform((size, size), Image.Transform.MESH, mesh, Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=90)
        return buf.getvalue()


# -- measuring -----------------------------------------------------------------------------------
def p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]


class Client:
    """One GetMap client: a keep-alive connection of Python's ``http.client``.

    The clients share the server's cores, so the lightest client measures the server best
    (httpx costs about 0.8 ms of CPU per request, a sixth of a map's)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def getmap(self, query: dict[str, str]) -> bytes:
        self.conn.request("GET", "/wms-r?" + urlencode(query))
        response = self.conn.getresponse()
        body = response.read()
        assert response.status == 200 and body[:2] == b"\xff\xd8", body[:300]
        return body

    def close(self) -> None:
        self.conn.close()


def throughput(work: list[dict[str, str]], clients: list[Client]) -> float:
    """Requests per second with one thread per client (connections already open) sharing the work."""
    lock = threading.Lock()
    queue = list(work)

    def client(http: Client) -> None:
        while True:
            with lock:
                if not queue:
                    return
                p = queue.pop()
            http.getmap(p)

    threads = [threading.Thread(target=client, args=(http,)) for http in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(work) / (time.perf_counter() - started)


_FLOOR: Floor | None = None


def _floor_start(mbtiles: str) -> None:
    global _FLOOR
    _FLOOR = Floor(Path(mbtiles))


def _floor_chunk(chunk: list[tuple[str, tuple[float, ...], int]]) -> int:
    assert _FLOOR is not None
    for crs, bbox, size in chunk:
        _FLOOR.getmap(crs, bbox, size)
    return len(chunk)


def floor_rate(
    pool: concurrent.futures.Executor, items: list[tuple[str, tuple[float, ...], int]], procs: int
) -> float:
    """The floor's requests per second over ``items``, shared by the ``procs`` processes of ``pool``."""
    chunks = [items[i::procs] for i in range(procs)]
    started = time.perf_counter()
    done = sum(pool.map(_floor_chunk, chunks))
    return done / (time.perf_counter() - started)


class Cheap:
    """The cheap requests: a WMTS tile (random among the bottom level's) and an API list."""

    def __init__(self, base: str, home: Path, mbtiles: Path) -> None:
        self.base = base
        settings = json.loads((home / "config.json").read_text())
        account = settings["accounts"][0]
        token = httpx.post(
            f"{base}/realms/geoplateforme/protocol/openid-connect/token",
            data={"grant_type": "password", "username": account["login"], "password": account["password"]},
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.list_url = f"{base}/api/datastores/{settings['datastore']['_id']}/stored_data"
        conn = sqlite3.connect(f"file:{mbtiles}?mode=ro", uri=True)
        z = int(conn.execute("SELECT MAX(zoom_level) FROM tiles").fetchone()[0])
        rows = conn.execute("SELECT tile_column, tile_row FROM tiles WHERE zoom_level = ?", (z,)).fetchall()
        conn.close()
        self.tiles = [(z, col, (1 << z) - 1 - row) for col, row in rows]  # XYZ rows
        self.rng = random.Random(5)

    def tile_url(self) -> str:
        z, col, row = self.rng.choice(self.tiles)
        return f"{self.base}/wmts/{TILE_LAYER}/normal/PM/{z}/{row}/{col}.jpeg"

    def measure(
        self, http: httpx.Client, until: threading.Event | None, n: int
    ) -> tuple[list[float], list[float]]:
        """Latencies of ``n`` tiles and ``n`` lists, alternated (or as many as fit before ``until``)."""
        tiles, lists = [], []
        while len(tiles) < n and not (until is not None and until.is_set()):
            t = time.perf_counter()
            r = http.get(self.tile_url())
            tiles.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:200]
            t = time.perf_counter()
            r = http.get(self.list_url, headers=self.headers)
            lists.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:200]
        return tiles, lists


def under_load(
    work: list[dict[str, str]], clients: list[Client], cheap: Cheap
) -> tuple[float, tuple[list[float], list[float]]]:
    """GetMap throughput of ``clients`` over ``work``, and the cheap latencies measured meanwhile."""
    done = threading.Event()
    result: list[float] = []

    def load() -> None:
        try:
            result.append(throughput(work, clients))
        finally:
            done.set()

    loader = threading.Thread(target=load)
    loader.start()
    with httpx.Client(timeout=120) as http:
        loaded = cheap.measure(http, done, 10**9)
    loader.join()
    return result[0], loaded


def aligned_boxes(mbtiles: Path, n: int) -> list[tuple[float, ...]]:
    """EPSG:3857 boxes of ``n`` stored tiles of the bottom level (maps that are one tile)."""
    conn = sqlite3.connect(f"file:{mbtiles}?mode=ro", uri=True)
    z = int(conn.execute("SELECT MAX(zoom_level) FROM tiles").fetchone()[0])
    rows = conn.execute("SELECT tile_column, tile_row FROM tiles WHERE zoom_level = ?", (z,)).fetchall()
    conn.close()
    span = 2 * WORLD / (1 << z)
    rng = random.Random(9)
    out = []
    for _ in range(n):
        col, tms_row = rng.choice(rows)
        x0, y0 = -WORLD + col * span, -WORLD + tms_row * span
        out.append((x0, y0, x0 + span, y0 + span))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per latency series")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the throughput measures")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="gpf-bench-getmap-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        mbtiles, extent = build(home, tmp)
        proc, base = start_server(home, tmp / "server.log")  # default settings
        floor = Floor(mbtiles)
        try:
            header = ("GetMap JPEG", "server median", "p95", "floor median", "p95", "ratio")
            print(f"{header[0]:<22}{header[1]:>14}{header[2]:>9}{header[3]:>14}{header[4]:>9}{header[5]:>8}")
            ratios = []
            with httpx.Client(timeout=120) as http:
                series = [(s, c, boxes(extent, c, s, args.requests, seed=s)) for s in (256, 1024)
                          for c in ("EPSG:3857", "EPSG:2154")]  # fmt: skip
                series.append((256, "aligned", aligned_boxes(mbtiles, args.requests)))
                for size, crs, work in series:
                    crs_name = "EPSG:3857" if crs == "aligned" else crs
                    # warm-up (pool processes, MapProxy build, caches) outside the series
                    for bbox in work[: 2 * cores]:
                        http.get(f"{base}/wms-r", params=params(crs_name, bbox, size)).raise_for_status()
                    server, floor_t = [], []
                    # Interleaved, so that load from elsewhere hits both series alike.
                    for bbox in work:
                        t = time.perf_counter()
                        r = http.get(f"{base}/wms-r", params=params(crs_name, bbox, size))
                        server.append(time.perf_counter() - t)
                        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.text[:300]
                        t = time.perf_counter()
                        floor.getmap(crs_name, bbox, size)
                        floor_t.append(time.perf_counter() - t)
                    ratio = statistics.median(server) / statistics.median(floor_t)
                    if crs != "aligned":
                        ratios.append(ratio)
                    sm, sp = statistics.median(server) * 1000, p95(server) * 1000
                    fm, fp = statistics.median(floor_t) * 1000, p95(floor_t) * 1000
                    label = f"{size}² {crs}" + (" (1 tile)" if crs == "aligned" else "")
                    print(f"{label:<22}{sm:>11.1f} ms{sp:>6.1f} ms{fm:>11.1f} ms{fp:>6.1f} ms{ratio:>7.2f}×")
            print(f"worst latency ratio (off the tiles): {max(ratios):.2f}× (target ≤ 3×)")

            cheap = Cheap(base, home, mbtiles)
            with httpx.Client(timeout=120) as http:
                cheap.measure(http, None, 10)  # warm-up
            ctx = multiprocessing.get_context("spawn")
            floor_pool = concurrent.futures.ProcessPoolExecutor(cores, ctx, _floor_start, (str(mbtiles),))
            # The clients' connections are opened once, as the floor's processes are started once.
            clients = [Client(base) for _ in range(args.clients)]
            with floor_pool:
                for size, crs in ((256, "EPSG:3857"), (256, "EPSG:2154")):
                    per_round = args.requests
                    work_boxes = boxes(extent, crs, size, 2 * args.rounds * per_round, seed=7)
                    items = [(crs, b, size) for b in work_boxes]
                    work = [params(crs, b, size) for b in work_boxes]
                    list(floor_pool.map(_floor_chunk, [items[:4]] * cores))  # start and warm every process
                    throughput(work[: 2 * args.clients], clients)  # warm-up of every process
                    # Rounds alternate the floor, the 8 clients alone, the cheap requests alone and
                    # the cheap requests under the 8 clients, so that load from elsewhere on the
                    # machine hits them alike; medians over the rounds. The throughput goal is read
                    # on the 8 clients alone: while the cheap client measures, it is a 9th client
                    # sending tiles and lists back to back (its throughput is printed too).
                    floor_rates: list[float] = []
                    rates: list[float] = []
                    rates_cheap: list[float] = []
                    alone_t, alone_l, loaded_t, loaded_l = [], [], [], []
                    for r in range(args.rounds):
                        maps = slice(2 * r * per_round, (2 * r + 1) * per_round)
                        maps_cheap = slice((2 * r + 1) * per_round, (2 * r + 2) * per_round)
                        floor_rates.append(floor_rate(floor_pool, items[maps], cores))
                        rates.append(throughput(work[maps], clients))
                        with httpx.Client(timeout=120) as http:
                            tiles, lists = cheap.measure(http, None, max(10, args.requests // args.rounds))
                        alone_t.append(statistics.median(tiles))
                        alone_l.append(statistics.median(lists))
                        rps, (tiles, lists) = under_load(work[maps_cheap], clients, cheap)
                        rates_cheap.append(rps)
                        loaded_t.append(statistics.median(tiles))
                        loaded_l.append(statistics.median(lists))
                    rps, floor_rps = statistics.median(rates), statistics.median(floor_rates)
                    print(
                        f"throughput {size}² {crs}, {args.clients} clients: {rps:.1f} req/s; floor on "
                        f"{cores} processes: {floor_rps:.1f} req/s; {100 * rps / floor_rps:.0f} % of it "
                        f"(goal ≥ 50 %; medians of {args.rounds} rounds of {per_round} maps; rounds "
                        f"{min(rates) / floor_rps:.0%}–{max(rates) / floor_rps:.0%})"
                    )
                    print(
                        f"  with a 9th client sending cheap requests back to back: "
                        f"{statistics.median(rates_cheap):.1f} req/s of GetMap "
                        f"({100 * statistics.median(rates_cheap) / floor_rps:.0f} % of the floor)"
                    )
                    for name, a, b in (("WMTS tile", alone_t, loaded_t), ("API list", alone_l, loaded_l)):
                        ma, mb = statistics.median(a) * 1000, statistics.median(b) * 1000
                        print(
                            f"  {name:<10} alone {ma:6.1f} ms, under that load {mb:6.1f} ms: "
                            f"{mb / ma:.2f}× (goal ≤ 3×)"
                        )
            for http in clients:
                http.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
