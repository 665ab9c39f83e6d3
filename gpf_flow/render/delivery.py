"""Rendering delivery events for people: a progress bar per file, the checks, a final table.

The renderer is a plain callable taking a delivery event (:mod:`gpf_flow.delivery.events`), so it
plugs into ``Uploader(on_event=...)``; the JSON-lines form is :mod:`gpf_flow.render.jsonlines`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from gpf_flow.delivery import events as ev
from gpf_flow.delivery.events import DeliveryEvent, DeliveryReport


class DeliveryRenderer:
    """Draws delivery events: a progress bar per file (bytes, rate, ETA), then the checks."""

    def __init__(self, console: Console) -> None:
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

    def __enter__(self) -> DeliveryRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: DeliveryEvent) -> None:
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


def render_delivery_summary(report: DeliveryReport, console: Console) -> None:
    """The final table: one row per dataset (upload, status, files, failed checks) and per static."""
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
