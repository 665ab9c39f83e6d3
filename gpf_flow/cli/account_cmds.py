"""``gpf-flow auth``, ``gpf-flow me`` and ``gpf-flow config``: who am I, where, with which settings."""

import typer

from gpf_flow.cli.common import ConfigOption, HomeOption, PostgresOption, StoreOption, use_postgres


def register(app: typer.Typer) -> None:
    """Add the account commands to the app."""
    app.command("auth")(auth)
    app.command("me")(me)
    app.command("config")(config)


def auth(store: StoreOption = None, config: ConfigOption = None, home: HomeOption = None) -> None:
    """Check the credentials: get a token, print who you are and when the token expires."""
    from datetime import UTC, datetime, timedelta

    from gpf_flow.config import resolve_home
    from gpf_flow.store import LOCAL, resolve_store

    kind, _source = resolve_store(store, config)
    if kind == LOCAL:
        typer.echo(f"local store in {resolve_home(home)}: no credentials needed (use --store geoplateforme)")
        return
    from gpf_flow.store.geoplateforme import GeoplateformeStore, load_settings

    settings = load_settings(config)
    with GeoplateformeStore(settings, datastore_id="") as gpf:
        gpf.client.tokens.get()
        token = gpf.client.tokens.token
        user = gpf.user_me()
    name = " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()
    who = f"{name} <{user.get('email', '')}>" if name else str(user.get("email") or user.get("_id"))
    typer.echo(f"authenticated as {who} (id {user.get('_id')})")
    typer.echo(f"token server: {settings.token_url} (grant {gpf.client.tokens.grant_type})")
    typer.echo(f"API: {settings.root_url}")
    if token is not None:
        left = max(0.0, token.seconds_left())
        expiry = datetime.now(UTC) + timedelta(seconds=left)
        typer.echo(f"token expires in {left:.0f} s (at {expiry:%Y-%m-%d %H:%M:%S} UTC)")
    if settings.datastore:
        communities = {
            str((m.get("community") or {}).get("datastore")): str((m.get("community") or {}).get("name"))
            for m in user.get("communities_member") or []
        }
        if settings.datastore in communities:
            typer.echo(f"datastore: {settings.datastore} ({communities[settings.datastore]})")
        else:
            typer.echo(
                f"warning: the configured datastore {settings.datastore} is not one of your communities' "
                "datastores; `gpf-flow me` lists them",
                err=True,
            )


def me(
    store: StoreOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
    json_output: bool = typer.Option(False, "--json", help="Print the /users/me document as JSON."),
) -> None:
    """Show the user, their communities and the datastores they can use (with ids)."""
    import json

    from rich.markup import escape

    from gpf_flow.cli.common import console, open_store_from_options
    from gpf_flow.render.tables import communities_table

    with open_store_from_options(store, home, config) as opened:
        user = opened.user_me()
    if json_output:
        typer.echo(json.dumps(user, indent=2, ensure_ascii=False))
        return
    name = " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()
    console().print(f"user: {escape(name)} <{escape(str(user.get('email', '')))}> (id {user.get('_id')})")
    console().print(communities_table(user))


def config(
    store: StoreOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Show the effective configuration (secrets masked) and where each value comes from."""
    from gpf_flow.config import resolve_home
    from gpf_flow.store import resolve_store
    from gpf_flow.store.geoplateforme.settings import default_config_path, load_settings

    kind, kind_source = resolve_store(store, config)
    config_path = config or default_config_path()
    config_source = "--config" if config else ("environment / default location" if config_path else "none")
    rows = [
        ("store", kind, kind_source),
        ("home", str(resolve_home(home)), "--home" if home else "GPF_FLOW_HOME or default"),
        ("config file", str(config_path or "(none)"), config_source),
    ]
    from gpf_flow.postgis.database import postgres_status

    use_postgres(postgres)
    what, source = postgres_status(resolve_home(home), config_path)
    rows.append(("postgres", what, "--postgres" if postgres else source))
    settings = load_settings(config)
    rows += [(f"geoplateforme.{k}", v, settings.sources.get(k, "")) for k, v in settings.masked().items()]
    width = max(len(key) for key, _v, _s in rows)
    for key, value, source in rows:
        typer.echo(f"{key:<{width}} = {value}    ({source})")
