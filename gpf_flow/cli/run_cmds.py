"""``gpf-flow run`` and ``gpf-flow status``: run a workflow on a store, show each step's last state."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli import common
from gpf_flow.cli.common import PairParamCommand, ParamOption, pairs

if TYPE_CHECKING:
    from gpf_flow.engine.result import RunResult

OUTPUTS = ("rich", "json")


def register(app: typer.Typer) -> None:
    """Add the ``run`` and ``status`` commands."""
    app.command("run", cls=PairParamCommand)(run_command)
    app.command("status", cls=PairParamCommand)(status_command)


def run_command(
    file: Annotated[
        str, typer.Argument(help="Workflow file, or the name of a catalog workflow (wms-generic).")
    ],
    step: Annotated[
        str | None, typer.Option("--step", help="Run this step alone.", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Run this step and its ancestors.", show_default=False)
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Run this step and its descendants.", show_default=False)
    ] = None,
    param: ParamOption = None,
    params_file: Annotated[
        str | None, typer.Option("--params-file", help="JSON object of parameter values.", show_default=False)
    ] = None,
    behavior: Annotated[
        str | None,
        typer.Option(
            "--behavior",
            "-b",
            help="When an entity exists: STOP, DELETE, CONTINUE or RESUME (default: per action type).",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Steps run at the same time.")] = 4,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Resolve and print each action's request; change nothing.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-run steps recorded as done.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm deletions (delete-entity).")] = False,
    datastore: Annotated[
        str | None,
        typer.Option("--datastore", "-d", help="Datastore id for every action.", show_default=False),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="rich (live view) or json (one event per line).")
    ] = "rich",
    store: common.StoreOption = None,
    config: common.ConfigOption = None,
    home: common.HomeOption = None,
    postgres: common.PostgresOption = None,
) -> None:
    """Run a workflow: steps in dependency order, independent ones in parallel, logs streamed live.

    A re-run skips the steps recorded as done (`--force` re-runs them) and resumes the failed ones.
    """
    import signal
    import threading

    from gpf_flow.engine.result import RunInterrupted
    from gpf_flow.engine.runner import RunOptions, default_state_path, run
    from gpf_flow.errors import EXIT_INTERRUPTED, UsageError
    from gpf_flow.render.console import ConsoleRenderer
    from gpf_flow.render.jsonlines import JsonLinesRenderer
    from gpf_flow.workflow.load import load_workflow

    common.use_postgres(postgres)
    if output not in OUTPUTS:
        raise UsageError(f"unknown output {output!r}", hint="use --output rich or --output json")
    params = pairs(param)
    warnings: list[str] = []
    workflow = load_workflow(file, params, params_file=params_file, on_warning=warnings.append)
    renderer: ConsoleRenderer | JsonLinesRenderer
    if output == "json":
        renderer = JsonLinesRenderer(common.stdout())
    else:
        renderer = ConsoleRenderer(common.console(), show_bodies=dry_run)
    for message in warnings:
        common.err_console().print(f"[yellow]warning:[/yellow] {message}")
    with common.open_store_from_options(store, home, config) as the_store:
        cancel = threading.Event()

        def _on_sigint(signum: int, frame: object) -> None:
            if cancel.is_set():  # second Ctrl-C: stop waiting
                raise KeyboardInterrupt
            cancel.set()
            common.err_console().print("[yellow]interrupted: aborting running executions…[/yellow]")

        previous = signal.signal(signal.SIGINT, _on_sigint)
        try:
            result = run(
                workflow,
                the_store,
                RunOptions(
                    step=step,
                    until=until,
                    from_=from_,
                    params=params,
                    behavior=behavior,
                    jobs=jobs,
                    dry_run=dry_run,
                    force=force,
                    state_path=default_state_path(the_store, home),
                    yes=yes,
                    datastore=datastore,
                ),
                on_event=renderer,
                cancel=cancel,
            )
        except RunInterrupted as exc:
            _close(renderer)
            _summary(renderer, exc.result)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            signal.signal(signal.SIGINT, previous)
            _close(renderer)
    _summary(renderer, result)
    if result.links and output != "json":
        _serve_hint(store, config, home)
    if not result.ok:
        raise typer.Exit(1)


def _serve_hint(store: str | None, config: str | None, home: str | None) -> None:
    """Links of the local store answer only while `gpf-flow serve` runs on its home: say how."""
    from gpf_flow.config import resolve_home
    from gpf_flow.store import resolve_store
    from gpf_flow.store.local.serving import serving_url

    kind, _source = resolve_store(store, config)
    home_dir = resolve_home(home)
    if kind != "local" or serving_url(home_dir) is not None:
        return
    common.console().print(
        f"[dim]No server runs on this store: `gpf-flow serve --home {home_dir}` makes these links answer "
        "(at http://127.0.0.1:8700 by default; with --port the links of the next run follow it).[/dim]"
    )


def _close(renderer: object) -> None:
    close = getattr(renderer, "close", None)
    if close is not None:
        close()


def _summary(renderer: object, result: "RunResult") -> None:
    from gpf_flow.render.console import render_summary
    from gpf_flow.render.jsonlines import JsonLinesRenderer, run_summary

    if isinstance(renderer, JsonLinesRenderer):
        renderer.summary(run_summary(result))
    else:
        render_summary(result, common.console())


def status_command(
    file: Annotated[str, typer.Argument(help="Workflow file, or the name of a catalog workflow.")],
    param: ParamOption = None,
    params_file: Annotated[
        str | None, typer.Option("--params-file", help="JSON object of parameter values.", show_default=False)
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="rich (table) or json.")] = "rich",
    store: common.StoreOption = None,
    config: common.ConfigOption = None,
    home: common.HomeOption = None,
) -> None:
    """Show each step's last recorded state (done, failed, interrupted, never run).

    With `--store` (or GPF_FLOW_STORE, or the configuration's `store` key), only the runs on that
    store count; otherwise every run recorded in the home's runs.sqlite.
    """
    from gpf_flow.engine.runner import default_state_path
    from gpf_flow.engine.state import step_records
    from gpf_flow.render.tables import status_rows, status_table
    from gpf_flow.store import resolve_store
    from gpf_flow.workflow.load import load_workflow

    kind, source = resolve_store(store, config)
    workflow = load_workflow(file, pairs(param), params_file=params_file, on_warning=lambda _m: None)
    # the run state of a run on any store lives in the home (the local store's folder)
    records = step_records(
        workflow, default_state_path(None, home), store=kind if source != "default" else None
    )
    gone = _gone_steps(records, default_state_path(None, home), store, home, config)
    if output == "json":
        common.console().print_json(data=status_rows(workflow, records, gone))
        return
    common.console().print(status_table(workflow, records, gone))


def _gone_steps(records: Any, state_path: Any, store: Any, home: Any, config: Any) -> dict[str, list[str]]:
    """Steps recorded done whose entities are gone or broken in the store (see engine.liveness)."""
    from gpf_flow.engine.liveness import step_lost
    from gpf_flow.engine.state import RunState

    done = {name: rec for name, rec in records.items() if rec.status == "done"}
    if not done or not state_path.exists():
        return {}
    state = RunState(state_path)
    try:
        with common.open_store_from_options(store, home, config) as the_store:
            found = {
                name: step_lost(the_store, state.step_actions(rec.run_id, name)) for name, rec in done.items()
            }
    finally:
        state.close()
    return {name: lost for name, lost in found.items() if lost}
