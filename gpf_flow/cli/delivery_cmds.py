"""``gpf-flow upload`` (deliver datasets from an upload descriptor) and ``gpf-flow dataset list|get``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli.common import ConfigOption, HomeOption, StoreOption

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from gpf_flow.delivery.events import DeliveryEvent, DeliveryReport

BEHAVIOR_HELP = (
    "When an upload with the same name exists: STOP (error, default), DELETE (replace it), "
    "CONTINUE (send what is missing, or just follow its checks), RESUME (like CONTINUE, and "
    "re-open it when its checks failed)."
)


class ConsoleRenderer:
    """Draws delivery events: a progress bar per file (bytes, rate, ETA), then the checks."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = console
        self.progress: Progress = Progress(
            TextColumn("[bold blue]{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self.shown: set[tuple[str, str, str]] = set()
        """(dataset, check, line) already printed while following the checks."""

    def __enter__(self) -> ConsoleRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: DeliveryEvent) -> None:
        from rich.markup import escape

        from gpf_flow.delivery import events as ev

        out = self.progress.console
        if isinstance(event, ev.DatasetStarted):
            head = f"[bold]{escape(event.dataset)}[/bold]: upload {event.upload_id}"
            out.print(f"{head} {event.action} ({event.status})")
        elif isinstance(event, ev.Info):
            out.print(f"  {escape(event.dataset)}: {escape(event.message)}")
        elif isinstance(event, ev.FileStarted):
            self.tasks[(event.dataset, event.path)] = self.progress.add_task(event.path, total=event.size)
        elif isinstance(event, ev.FileProgress):
            task = self.tasks.get((event.dataset, event.path))
            if task is not None:
                self.progress.advance(task, event.sent)
        elif isinstance(event, ev.FileFinished):
            task = self.tasks.pop((event.dataset, event.path), None)
            if task is not None:
                self.progress.remove_task(task)
            state = "[dim]already sent, skipped[/dim]" if event.skipped else "[green]sent[/green]"
            out.print(f"  {escape(event.path)} ({_size(event.size)}) {state}")
        elif isinstance(event, ev.UploadClosed):
            out.print(f"  upload {event.upload_id} closed, checks running")
        elif isinstance(event, ev.ChecksChanged):
            parts = [
                f"{label} {', '.join(names)}"
                for label, names in (
                    ("waiting:", event.asked),
                    ("running:", event.in_progress),
                    ("[green]passed:[/green]", event.passed),
                    ("[red]failed:[/red]", event.failed),
                )
                if names
            ]
            out.print(f"  checks of {escape(event.dataset)}: {' | '.join(parts) or 'none'}")
        elif isinstance(event, ev.CheckLog):
            style = "red" if "ERROR" in event.line else ("yellow" if "WARNING" in event.line else "dim")
            self.shown.add((event.dataset, event.check, event.line))
            out.print(f"    [{style}]{escape(event.check)}: {escape(event.line)}[/{style}]", highlight=False)
        elif isinstance(event, ev.DatasetFinished):
            result = event.result
            if result.error:
                out.print(f"[red]{escape(result.name)}: {escape(result.error)}[/red]")
            for check in result.failed_checks:
                what = f"check {escape(check.name)} failed, {len(check.errors)} ERROR line(s)"
                out.print(f"[red]{escape(result.name)}: {what}[/red]")
                for line in check.errors:
                    if (result.name, check.name, line) not in self.shown:
                        out.print(f"    [red]{escape(line)}[/red]")
        elif isinstance(event, ev.StaticDelivered):
            result_s = event.result
            if result_s.error:
                out.print(f"[red]static {escape(result_s.name)}: {escape(result_s.error)}[/red]")
            else:
                out.print(
                    f"static [bold]{escape(result_s.name)}[/bold]: {result_s.action} ({result_s.static_id})"
                )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _summary(console: Console, report: DeliveryReport) -> None:
    from rich.table import Table

    table = Table(title="Delivery summary")
    for column in ("dataset", "upload", "status", "sent", "skipped", "failed checks"):
        table.add_column(column)
    for result in report.datasets:
        status = result.status or "-"
        style = "green" if result.ok else "red"
        failed = ", ".join(c.name for c in result.failed_checks) or ("error" if result.error else "")
        table.add_row(
            result.name,
            result.upload_id or "-",
            f"[{style}]{status}[/{style}]",
            f"{result.files_sent} ({_size(result.bytes_sent)})",
            str(result.files_skipped),
            failed,
        )
    for static in report.statics:
        state = "[green]OK[/green]" if static.ok else "[red]FAILED[/red]"
        table.add_row(f"static {static.name}", static.static_id or "-", state, static.action, "", "")
    console.print(table)


def upload(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="Upload descriptor (JSON or JSONC, official SDK format).", dir_okay=False
        ),
    ],
    behavior: Annotated[str, typer.Option("--behavior", "-b", help=BEHAVIOR_HELP)] = "STOP",
    home: HomeOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Deliver the datasets of an upload descriptor: send the files, close, follow the checks to the end.

    Exit code 0 only when every upload ends CLOSED (all its checks passed) and every static is sent.
    """
    from gpf_flow.cli.common import console, open_store_from_options
    from gpf_flow.delivery import Uploader, load_descriptor
    from gpf_flow.delivery.uploader import normalize_behavior

    chosen = normalize_behavior(behavior)
    descriptor = load_descriptor(file)
    with open_store_from_options(store, home, config) as opened, ConsoleRenderer(console()) as renderer:
        report = Uploader(opened, behavior=chosen, on_event=renderer).deliver(descriptor)
    _summary(console(), report)
    if not report.ok:
        raise typer.Exit(code=1)


def dataset_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the sample datasets that ship with gpf-flow."""
    from gpf_flow.cli.common import console
    from gpf_flow.datasets import list_datasets

    samples = list_datasets()
    if json_output:
        import json

        rows: list[dict[str, Any]] = [
            {"name": s.name, "upload": s.upload_name, "type": s.upload_type, "description": s.description}
            for s in samples
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title="Sample datasets (gpf-flow dataset get NAME)")
    for column in ("name", "upload name", "type", "description"):
        table.add_column(column)
    for s in samples:
        table.add_row(s.name, s.upload_name, s.upload_type, s.description)
    console().print(table)


def dataset_get(
    name: Annotated[str, typer.Argument(help="Sample dataset name (see gpf-flow dataset list).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder in which NAME/ is written.", file_okay=False)
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing NAME/ folder.")] = False,
) -> None:
    """Write a sample dataset (data, md5 file, upload_descriptor.jsonc) into OUTPUT/NAME."""
    from gpf_flow.cli.common import console
    from gpf_flow.datasets import write_dataset

    folder = write_dataset(name, output, overwrite=force)
    console().print(f"wrote {folder}")
    console().print(f"send it with: gpf-flow upload -f {folder / 'upload_descriptor.jsonc'}")


def register(app: typer.Typer) -> None:
    """Add ``upload`` and the ``dataset`` group to the app."""
    app.command("upload")(upload)
    group = typer.Typer(
        help="Sample datasets made by gpf-flow: list them, write one to disk.",
        no_args_is_help=True,
        rich_markup_mode=None,  # plain click help: rich's help renderer costs ~0.2 s of start-up
    )
    group.command("list")(dataset_list)
    group.command("get")(dataset_get)
    app.add_typer(group, name="dataset")
