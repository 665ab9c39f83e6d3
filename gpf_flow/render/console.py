"""Rendering run events for people: a ``rich`` live view and a final summary.

The renderer is a plain callable taking an :class:`~gpf_flow.events.Event`, so it plugs into
``run(on_event=...)``; the JSON-lines form is :mod:`gpf_flow.render.jsonlines`. On a terminal
the live view shows every step with a spinner and its elapsed time, log lines scroll above it;
elsewhere each event is printed as one line.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from gpf_flow import events as ev
from gpf_flow.safe_text import printable, shorten

if TYPE_CHECKING:
    from rich.live import Live

    from gpf_flow.engine.result import RunResult

STATUS_STYLES = {
    "done": "green",
    "success": "green",
    "planned": "cyan",
    "skipped": "dim",
    "blocked": "yellow",
    "failed": "bold red",
    "interrupted": "magenta",
    "running": "blue",
    "not run": "dim",
    "pending": "dim",
}
STATUS_ICONS = {
    "done": "✔",
    "planned": "◇",
    "skipped": "↷",
    "blocked": "⊘",
    "failed": "✘",
    "interrupted": "■",
    "pending": "·",
    "not run": "·",
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


@dataclass
class _StepView:
    name: str
    status: str = "pending"
    started: float | None = None
    finished: float | None = None
    action: str = ""
    detail: str = ""
    logs: list[str] = field(default_factory=list)


class ConsoleRenderer:
    """Live view of a run; call :meth:`close` (or use it as a context manager) when it ends."""

    def __init__(
        self, console: Console | None = None, *, log_tail: int = 3, show_bodies: bool = False
    ) -> None:
        self.console = console or Console()
        self.log_tail = log_tail
        self.show_bodies = show_bodies
        self.steps: dict[str, _StepView] = {}
        self._lock = threading.RLock()
        self._live: Live | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> ConsoleRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live view (leaves the final state of the steps on screen)."""
        with self._lock:
            if self._live is not None:
                self._live.update(self._table(final=True))
                self._live.stop()
                self._live = None

    def _start_live(self) -> None:
        from rich.live import Live

        if self.console.is_terminal and self._live is None:
            self._live = Live(
                get_renderable=lambda: self._table(),
                console=self.console,
                refresh_per_second=8,
                transient=False,
            )
            self._live.start()

    def _print(self, renderable: RenderableType | str) -> None:
        self.console.print(renderable, highlight=False, soft_wrap=True)

    # -- events -------------------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._handle(event)

    def _view(self, step: str) -> _StepView:
        return self.steps.setdefault(step, _StepView(step))

    def _handle(self, event: ev.Event) -> None:  # noqa: C901 - one branch per event kind
        if isinstance(event, ev.RunStarted):
            for generation in event.generations:
                for name in generation:
                    self.steps[name] = _StepView(name)
            mode = " (dry run)" if event.dry_run else ""
            self._print(
                f"[bold]run[/bold] {escape(event.workflow)}{mode}: {len(self.steps)} step(s) on the "
                f"{event.store} store, datastore {escape(event.datastore)}"
            )
            if event.dry_run:
                for number, generation in enumerate(event.generations, start=1):
                    self._print(f"  plan {number}: {escape(', '.join(generation))}")
            self._start_live()
        elif isinstance(event, ev.StepStarted):
            view = self._view(event.step)
            view.status, view.started = "running", event.at
            if self._live is None:
                self._print(f"[blue]▶[/blue] {escape(event.step)}")
        elif isinstance(event, ev.StepSkipped):
            view = self._view(event.step)
            view.status, view.detail = event.status, event.reason
            self._print(
                f"[{STATUS_STYLES[event.status]}]{STATUS_ICONS[event.status]} {escape(event.step)}: "
                f"{event.status} ({escape(event.reason)})[/]"
            )
        elif isinstance(event, ev.StepFinished):
            view = self._view(event.step)
            view.status, view.finished = event.status, event.at
            view.detail = (event.error or "").splitlines()[0] if event.error else ""
            style = STATUS_STYLES.get(event.status, "")
            line = (
                f"[{style}]{STATUS_ICONS.get(event.status, '?')} {escape(event.step)}: {event.status}[/] "
                f"in {_duration(event.duration)}"
            )
            self._print(line)
            if event.error:
                self._print(Text("    " + event.error.replace("\n", "\n    "), style="red"))
        elif isinstance(event, ev.ActionStarted):
            view = self._view(event.step)
            view.action = f"#{event.index + 1} {event.action_type}"
            if self.show_bodies:
                self._print(f"  [cyan]{escape(event.step)} #{event.index + 1} {event.action_type}[/cyan]")
                self._print(Text(json.dumps(event.body, indent=2, ensure_ascii=False), style="dim"))
                for template in event.pending:
                    self._print(f"    [yellow]pending (entity not created yet):[/yellow] {escape(template)}")
        elif isinstance(event, ev.LogLine):
            view = self._view(event.step)
            view.logs = [*view.logs, event.line][-self.log_tail :]
            self._print(Text(f"  {event.step} │ {event.line}", style="dim"))
        elif isinstance(event, ev.StatusChanged):
            view = self._view(event.step)
            view.detail = f"{event.entity_type} {event.status}"
        elif isinstance(event, ev.EntityCreated):
            verb = "reusing" if event.reused else "created"
            self._print(
                f"  [green]+[/green] {escape(event.step)}: {verb} {event.entity_type} "
                f"{escape(event.name or '')} ({event.entity_id})"
            )
        elif isinstance(event, ev.EntityDeleted):
            self._print(
                f"  [red]-[/red] {escape(event.step)}: deleted {event.entity_type} "
                f"{escape(event.name or '')} ({event.entity_id})"
            )
        elif isinstance(event, ev.LinkPublished):
            self._print(
                f"  [bold green]🔗[/bold green] {escape(event.step)}: {event.offering_type or 'offering'} "
                f"{escape(event.layer_name or '')} published"
            )
            for url in event.urls:
                self._print(f"      {escape(_url(url))}")
        elif isinstance(event, ev.Warning):
            where = f"{escape(event.step)}: " if event.step else ""
            self._print(f"[yellow]warning:[/yellow] {where}{escape(event.message)}")
        elif isinstance(event, ev.RunFinished):
            self.close()

    # -- live table ---------------------------------------------------------------------------
    def _table(self, final: bool = False) -> RenderableType:
        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column()
        now = time.time()
        for view in self.steps.values():
            if view.status == "running" and not final:
                icon: RenderableType = Spinner("dots", style="blue")
            else:
                icon = Text(STATUS_ICONS.get(view.status, "·"), style=STATUS_STYLES.get(view.status, ""))
            elapsed = None
            if view.started is not None:
                elapsed = (view.finished or now) - view.started
            info = view.action if view.status == "running" else view.status
            if view.detail:
                info = f"{info} · {view.detail}"
            table.add_row(icon, shorten(view.name), _duration(elapsed), Text(printable(info), style="dim"))
            if view.status == "running":
                for line in view.logs:
                    table.add_row(
                        "", Text("│ " + printable(line[:160], keep_newlines=False), style="dim"), "", ""
                    )
        return Group(table)


def _url(url: Any) -> str:
    """The address of one ``urls`` item (``{"type", "url"}`` objects, or plain strings)."""
    return str(url.get("url", "")) if isinstance(url, dict) else str(url)


def render_summary(result: RunResult, console: Console | None = None) -> None:
    """The final summary: each step, its status, duration, entities created, and every link."""
    out = console or Console()
    table = Table(
        title=f"{result.workflow}: {result.status}", title_style=STATUS_STYLES.get(result.status, "")
    )
    table.add_column("step")
    table.add_column("status")
    table.add_column("duration", justify="right")
    table.add_column("entities")
    for step in result.steps.values():
        entities = "\n".join(
            f"{e['type']} {e.get('name') or ''} ({e['_id']})"
            f"{' reused' if e.get('reused') else ''}{' deleted' if e.get('deleted') else ''}"
            for e in step.entities
        )
        status = Text(step.status, style=STATUS_STYLES.get(step.status, ""))
        table.add_row(shorten(step.name), status, _duration(step.duration), entities)
    out.print(table)
    if result.steps and all(step.status == "skipped" for step in result.steps.values()):
        out.print(
            "[bold]nothing to do:[/bold] every selected step is already done "
            "(--force runs them again, `gpf-flow status` shows when they ran)"
        )
    if result.links:
        out.print("[bold]Published offerings[/bold]")
        for link in result.links:
            layer = escape(str(link.get("layer_name")))
            out.print(f"  [bold]{layer}[/bold] ({link.get('type')}, step {link['step']})")
            for url in link.get("urls") or []:
                kind = url.get("type", "") if isinstance(url, dict) else ""
                out.print(f"    {kind:9} {escape(_url(url))}", soft_wrap=True)
    for name, error in result.failed.items():
        out.print(f"[bold red]✘ {escape(name)}[/bold red]: {escape(error)}")
