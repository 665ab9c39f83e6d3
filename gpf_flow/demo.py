"""``make demo``: the raster tutorial end to end, on a store kept in the checkout.

Runs the README's tutorial commands as subprocesses (``python -m gpf_flow ...``) in ``.demo/`` of
the current folder (git-ignored) with its own store home (never the user's real one), starts
``gpf-flow serve`` in the background on a free port, fetches one GetMap image into
``demo-map.png``, stops the server, and ends with the one command that serves the store again and
opens the preview. A second ``make demo`` resets ``.demo/`` (refusing while a server runs on it).
Exits non-zero as soon as a step fails.
"""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORKFLOW = "wms-generic"
DEMO_DIR = ".demo"
MARKER = ".gpf-flow-demo"


class DemoFailed(Exception):
    """A demo step failed; the message says which."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _banner(text: str) -> None:
    print(f"\n\033[1;36m==> {text}\033[0m", flush=True)


def _gpf(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> None:
    """Run one ``gpf-flow`` command as the tutorial writes it, output shown live."""
    print(f"$ gpf-flow {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "gpf_flow", *args], cwd=cwd, env=env, check=False)
    if done.returncode != 0:
        raise DemoFailed(f"`gpf-flow {' '.join(args)}` failed with exit code {done.returncode}")


def _wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoFailed(f"`gpf-flow serve` exited early with code {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise DemoFailed(f"`gpf-flow serve` did not answer on {url} within {timeout:.0f} s")


def _api_session(sdk_config: Path) -> tuple[Any, str, str]:
    """An httpx client with a token from the server, the API root and the datastore id."""
    import httpx

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(sdk_config)
    auth = ini["store_authentification"]
    api = ini["store_api"]
    token = httpx.post(
        auth["token_url"],
        data={
            "grant_type": "password",
            "username": auth["login"],
            "password": auth["password"],
            "client_id": "gpf-warehouse",
        },
        timeout=10.0,
    )
    token.raise_for_status()
    client = httpx.Client(headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30.0)
    return client, api["root_url"], api["datastore"]


def _published_links(client: Any, root: str, datastore: str) -> tuple[str, str, list[float], str]:
    """The WMS link, the preview link, the data's bbox (lon/lat) and the layer name."""
    offerings = client.get(f"{root}/datastores/{datastore}/offerings", params={"type": "WMS-RASTER"}).json()
    if not offerings:
        raise DemoFailed("the workflow ran but no WMS-RASTER offering is published")
    offering = client.get(f"{root}/datastores/{datastore}/offerings/{offerings[0]['_id']}").json()
    urls = {u["type"]: u["url"] for u in offering["urls"]}
    configuration = client.get(
        f"{root}/datastores/{datastore}/configurations/{offering['configuration']['_id']}"
    ).json()
    stored_data_id = configuration["type_infos"]["used_data"][0]["stored_data"]
    stored_data = client.get(f"{root}/datastores/{datastore}/stored_data/{stored_data_id}").json()
    preview = (offering.get("extra") or {}).get("preview") or urls.get("PREVIEW", "")
    return urls["WMS"], preview, list(stored_data["type_infos"]["bbox"]), offering["layer_name"]


def _fetch_getmap(client: Any, wms_link: str, layer: str, bbox: list[float], target: Path) -> str:
    base = wms_link.split("?", 1)[0]
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": layer,
        "STYLES": "",
        "CRS": "CRS:84",
        "BBOX": ",".join(f"{v:.7f}" for v in bbox),
        "WIDTH": "768",
        "HEIGHT": "768",
        "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
    }
    response = client.get(base, params=params)
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith("image/"):
        raise DemoFailed(f"GetMap failed ({response.status_code}): {response.text[:300]}")
    target.write_bytes(response.content)
    return str(response.request.url)


def fresh_demo_folder(work: Path) -> None:
    """Make ``work`` an empty demo folder: a previous demo's folder is reset, anything else refused."""
    from gpf_flow.store.local.serving import serving_url

    if work.exists():
        if not (work / MARKER).exists():
            raise DemoFailed(f"{work} exists and was not made by `make demo`: move it away first")
        live = serving_url(work / "home")
        if live is not None:
            raise DemoFailed(
                f"a `gpf-flow serve` runs on the previous demo at {live}: stop it (Ctrl-C) first"
            )
        shutil.rmtree(work)
        print(f"Previous demo in {work} reset.")
    work.mkdir(parents=True)
    (work / MARKER).write_text("made by `make demo`; deleted by the next one\n", encoding="utf-8")


def run_demo(output_png: Path, work: Path) -> None:
    """Run the tutorial's steps 1-4 and 5 (serve + GetMap) in ``work``, which is kept afterwards."""
    fresh_demo_folder(work)
    env = {**os.environ, "GPF_FLOW_HOME": str(work / "home"), "GPF_FLOW_STORE": "local"}
    env.pop("GPF_FLOW_CONFIG", None)
    print(f"Demo folder (kept, git-ignored): {work}\nStore home: {work / 'home'}")

    _banner("1. Get the sample raster dataset")
    _gpf(["dataset", "get", "raster-sample"], cwd=work, env=env)
    _banner("2. Deliver it to the embedded Entrepôt (files, md5, checks)")
    _gpf(["upload", "-f", "raster-sample/upload_descriptor.jsonc"], cwd=work, env=env)
    _banner("3. Take the catalog workflow and look at it")
    _gpf(["catalog", "get", WORKFLOW], cwd=work, env=env)
    _gpf(["graph", f"{WORKFLOW}.jsonc"], cwd=work, env=env)
    _banner("4. Run it: pyramid, then WMS and WMTS publications in parallel")
    _gpf(["run", f"{WORKFLOW}.jsonc"], cwd=work, env=env)

    _banner("5. Serve the published services and fetch a map")
    port = _free_port()
    sdk_config = work / "config.ini"
    serve_cmd = [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port)]
    serve_cmd += ["--write-sdk-config", str(sdk_config)]
    print(f"$ gpf-flow serve --port {port} --write-sdk-config config.ini   (in the background)")
    server_log = (work / "serve.log").open("wb")
    server = subprocess.Popen(serve_cmd, cwd=work, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/", server)
        client, root, datastore = _api_session(sdk_config)
        with client:
            wms_link, preview_link, bbox, layer = _published_links(client, root, datastore)
            getmap_url = _fetch_getmap(client, wms_link, layer, bbox, output_png)
    except DemoFailed:
        print((work / "serve.log").read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()

    _banner("Done")
    print(f"WMS link (GetCapabilities): {wms_link}")
    print(f"Preview page:               {preview_link}")
    print(f"GetMap request:             {getmap_url}")
    print(f"Map image saved to:         {output_png}")
    preview_path = "/" + preview_link.split("/", 3)[3] if preview_link.count("/") >= 3 else "/"
    print("\nThe demo's server was stopped; its store is kept. Serve it again and open the preview:")
    print(f"  {Path(sys.executable).parent / 'gpf-flow'} serve --home {work / 'home'} --open {preview_path}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m gpf_flow.demo [OUTPUT_PNG]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    output = Path(args[0] if args else "demo-map.png").resolve()
    work = Path(DEMO_DIR).resolve()
    try:
        run_demo(output, work)
    except DemoFailed as exc:
        print(f"\n\033[1;31mdemo failed:\033[0m {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
