"""``gpf-flow serve``: the local Entrepôt as a real HTTP API (and its offerings as OGC services)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from gpf_flow.cli.common import HomeOption, PostgresOption, use_postgres


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8700,
    home: HomeOption = None,
    write_sdk_config_path: Annotated[
        Path | None,
        typer.Option(
            "--write-sdk-config",
            help="Also write a config.ini for the official SDK (and gpf-flow's geoplateforme store) here.",
            dir_okay=False,
        ),
    ] = None,
    token_lifetime: Annotated[
        int | None,
        typer.Option(
            "--token-lifetime", help="Lifetime of issued tokens, in seconds (default: settings, 3600).", min=1
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes drawing raster maps (WMS GetMap, the CPU-heavy requests), apart from tiles "
            "and API calls. Default: one per core; 1 draws them in a thread of the server process.",
            min=1,
            show_default=False,
        ),
    ] = None,
    open_path: Annotated[
        str | None,
        typer.Option(
            "--open", help="Open this page of the server in a browser once it answers (e.g. /preview/ID)."
        ),
    ] = None,
    postgres: PostgresOption = None,
) -> None:
    """Serve the local store: the Entrepôt REST API under /api, its token endpoint, and the OGC services
    of published offerings. Stops cleanly on Ctrl-C / SIGTERM."""
    import logging
    import os
    import signal

    # uvicorn shuts down gracefully, then re-raises the signal it caught: make SIGTERM (also during
    # start-up) a clean exit 0; SIGINT stays KeyboardInterrupt, i.e. exit 130.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    use_postgres(postgres)

    import uvicorn

    from gpf_flow.cli.common import err_console
    from gpf_flow.config import resolve_home
    from gpf_flow.serve.app import build_app
    from gpf_flow.serve.auth import TOKEN_PATH, accounts_from_config
    from gpf_flow.serve.launch import (
        base_url,
        check_port_free,
        is_loopback,
        sdk_config_text,
        write_sdk_config,
    )
    from gpf_flow.store.local import LocalStore, serving
    from gpf_flow.store.local.settings import SETTINGS_FILE

    if not is_loopback(host):
        err_console().print(
            f"[yellow]warning:[/yellow] listening on {host}: the local Entrepôt (and its password-protected "
            "API) is reachable from other machines. Use --host 127.0.0.1 to keep it local."
        )
    check_port_free(host, port)
    home_dir = resolve_home(home)
    home_dir.mkdir(parents=True, exist_ok=True)
    settings_file = home_dir / SETTINGS_FILE
    url = base_url(host if host not in ("0.0.0.0", "::") else "127.0.0.1", port)
    with LocalStore(home_dir, public_url=url) as store:
        settings: dict[str, Any] = store.config
        accounts = accounts_from_config(settings)
        token_url, api_root = url + TOKEN_PATH, url + "/api"
        typer.echo(f"gpf-flow serve: local Entrepôt in {home_dir}")
        typer.echo(f"  API root:     {api_root}")
        typer.echo(f"  token URL:    {token_url}")
        if accounts:
            typer.echo(f"  login:        {accounts[0].login} (password in {settings_file}, 'accounts')")
        typer.echo(f"  datastore:    {store.datastore_id}")
        typer.echo(
            f"  services:     {url}/wms-r, /wms-v, /wmts, /tms, /wfs, /download, /preview/<offering id>"
        )
        if write_sdk_config_path is not None:
            if not accounts:
                from gpf_flow.errors import GpfFlowError

                raise GpfFlowError(
                    f"no local account in {settings_file}: cannot write an SDK config",
                    hint='add "accounts": [{"login": "...", "password": "..."}] to it',
                )
            text = sdk_config_text(
                token_url, accounts[0].login, accounts[0].password, api_root, store.datastore_id
            )
            write_sdk_config(write_sdk_config_path, text)
            typer.echo(f"  SDK config:   {write_sdk_config_path}")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        serving.record(home_dir, url)  # runs on this home print links at this address
        map_workers = workers or os.cpu_count() or 1
        typer.echo(f"  map workers:  {map_workers} ({'processes' if map_workers > 1 else 'a thread'})")
        try:
            app = build_app(store, home=home_dir, token_lifetime=token_lifetime, map_workers=map_workers)
            # uvicorn picks uvloop and httptools when they are installed (dependencies of gpf-flow).
            config = uvicorn.Config(
                app, host=host, port=port, access_log=False, log_level="info", lifespan="on", log_config=None
            )
            server = uvicorn.Server(config)
            if open_path is not None:
                _open_when_started(server, url + "/" + open_path.lstrip("/"))
            server.run()
        finally:
            serving.clear(home_dir)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the CLI."""
    app.command("serve")(serve)


def _open_when_started(server: Any, page: str) -> None:
    """Open ``page`` in the user's browser once ``server`` has started (a daemon thread waits)."""
    import threading
    import time
    import webbrowser

    def wait_then_open() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.1)
        if server.started:
            typer.echo(f"  opening:      {page}")
            webbrowser.open(page)

    threading.Thread(target=wait_then_open, daemon=True).start()
