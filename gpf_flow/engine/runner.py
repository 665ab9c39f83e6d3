"""The runner: walks the plan, runs each step's actions, records everything, emits events.

Steps start as soon as their parents (in the selection) are done, up to ``jobs`` at a time, so
the steps of one generation run concurrently. A failed step blocks its descendants; independent
branches finish. Ctrl-C (or ``cancel.set()``) aborts the running executions on the store, waits
for them to end, records the steps as interrupted and raises :class:`RunInterrupted`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from gpf_flow import events as ev
from gpf_flow.actions import get_action
from gpf_flow.actions.base import ActionContext
from gpf_flow.engine.options import RunOptions
from gpf_flow.engine.recorder import RunRecorder
from gpf_flow.engine.result import RunInterrupted, RunResult, StepResult
from gpf_flow.engine.state import StepRecord, workflow_key
from gpf_flow.errors import GpfFlowError, Interrupted, WorkflowError
from gpf_flow.resolve import ResolveContext, TemplateSyntaxError, find_templates, resolve_value
from gpf_flow.store.base import Store
from gpf_flow.workflow.model import Action, Step, Workflow

__all__ = ["run", "default_state_path", "RunOptions", "RunResult", "StepResult", "RunInterrupted"]


def default_state_path(store: Store | None = None, home: str | Path | None = None) -> Path:
    """``<home>/runs.sqlite``: next to the local store's files, else in ``home`` (``--home``) or
    the default home."""
    local = store.local() if store is not None else None
    if local is not None:
        return local.home / "runs.sqlite"
    from gpf_flow.config import resolve_home

    return resolve_home(home) / "runs.sqlite"


def run(
    workflow: Workflow,
    store: Store,
    options: RunOptions | None = None,
    *,
    on_event: ev.EventCallback | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run a workflow (or a selection of it) on a store, as :class:`RunOptions` say.

    ``on_event`` receives every :class:`~gpf_flow.events.Event` (from several threads, one at a
    time); ``cancel`` stops the run like Ctrl-C. Returns a :class:`RunResult` (``status``
    success/failed/planned); raises :class:`RunInterrupted` when interrupted.
    """
    from gpf_flow.workflow.dag import plan as make_plan

    options = (options or RunOptions()).checked()
    the_plan = make_plan(workflow, step=options.step, until=options.until, from_=options.from_)
    check_templates(workflow, the_plan.steps)
    runner = _Runner(
        workflow,
        store,
        options,
        generations=[list(g) for g in the_plan.generations],
        order=list(the_plan.steps),
        on_event=on_event,
        cancel=cancel or threading.Event(),
    )
    return runner.execute()


def check_templates(workflow: Workflow, steps: list[str]) -> None:
    """Parse every template of the selected steps up front: a typo fails before anything runs."""
    problems: list[str] = []
    for name in steps:
        for action in workflow.steps[name].actions:
            try:
                find_templates(dict(action.data))
            except TemplateSyntaxError as exc:
                problems.append(f"step {name!r}, action #{action.index + 1} ({action.type}): {exc.message}")
    if problems:
        raise WorkflowError("\n".join(problems), hint="fix the templates; nothing was run")


class _Runner:
    def __init__(
        self,
        workflow: Workflow,
        store: Store,
        options: RunOptions,
        *,
        generations: list[list[str]],
        order: list[str],
        on_event: ev.EventCallback | None,
        cancel: threading.Event,
    ) -> None:
        self.workflow = workflow
        self.store = store
        self.options = options
        self.generations = generations
        self.order = order
        self.behavior = options.behavior
        self.jobs = options.jobs
        self.dry_run = options.dry_run
        self.force = options.force
        self.on_event = on_event
        self.state_path = Path(options.state_path) if options.state_path else default_state_path(store)
        self.yes = options.yes
        self.datastore = options.datastore
        self.cancel = cancel
        self._emit_lock = threading.Lock()
        self.poll_cap = store.poll_interval
        self.resolve = ResolveContext(
            store=store,
            params=dict(options.params),
            base_dir=workflow.path.parent if workflow.path else None,
            dry_run=options.dry_run,
        )
        self.results = {name: StepResult(name) for name in order}
        self.recorder = RunRecorder(None)
        self.key = workflow_key(workflow)
        self.run_datastore = options.datastore or workflow.datastore or store.datastore_id

    # -- plumbing -----------------------------------------------------------------------------
    def emit(self, event: ev.Event) -> None:
        if self.on_event is None:
            return
        with self._emit_lock:
            self.on_event(event)

    def _store_for(self, step: Step, action: Action) -> Store:
        chosen = self.datastore or self.workflow.datastore_for(step, action)
        if chosen and chosen != self.store.datastore_id:
            return self.store.for_datastore(chosen)
        return self.store

    # -- the run ------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        started = time.time()
        self.recorder = RunRecorder.open(self.state_path, dry_run=self.dry_run)
        try:
            last = self.recorder.last_steps(self.key, self.run_datastore)
            if not self.dry_run:
                self.recorder.start_run(
                    self.key,
                    self.workflow.name,
                    datastore=self.run_datastore,
                    store=self.store.kind,
                    params=self.options.params,
                    selection=self.options.selection,
                )
            self.emit(
                ev.RunStarted(
                    run_id=self.recorder.run_id,
                    workflow=self.workflow.name,
                    generations=self.generations,
                    dry_run=self.dry_run,
                    store=self.store.kind,
                    datastore=self.run_datastore,
                )
            )
            self._warn_missing_parents(last)
            self._notices()
            self._schedule(last)
            status = self._final_status()
            finished = time.time()
            self.recorder.finish_run(status)
            result = RunResult(
                workflow=self.workflow.name,
                run_id=self.recorder.run_id,
                status=status,
                steps=self.results,
                started=started,
                finished=finished,
                state_path=str(self.state_path),
            )
            self.emit(
                ev.RunFinished(
                    run_id=self.recorder.run_id,
                    status=status,
                    duration=finished - started,
                    failed=result.failed,
                )
            )
        finally:
            self.recorder.close()
        if status == "interrupted":
            raise RunInterrupted("run interrupted: running executions were aborted", result)
        return result

    def _final_status(self) -> str:
        statuses = {r.status for r in self.results.values()}
        if self.cancel.is_set() or "interrupted" in statuses:
            return "interrupted"
        if statuses & {"failed", "blocked"}:
            return "failed"
        return "planned" if self.dry_run else "success"

    def _warn_missing_parents(self, last: dict[str, StepRecord]) -> None:
        selected = set(self.order)
        for name in self.order:
            for parent in self.workflow.steps[name].parents:
                if parent in selected:
                    continue
                record = last.get(parent)
                if record is None or record.status != "done":
                    state = "never ran" if record is None else f"last state: {record.status}"
                    self.emit(
                        ev.Warning(
                            step=name,
                            message=f"parent step {parent!r} of {name!r} has no successful record ({state}); "
                            "continuing, its entities may already exist on the store",
                        )
                    )

    def _schedule(self, last: dict[str, StepRecord]) -> None:
        selected = set(self.order)
        parents = {n: [p for p in self.workflow.steps[n].parents if p in selected] for n in self.order}
        pending = list(self.order)
        finished: dict[str, str] = {}
        running: dict[Future[StepResult], str] = {}
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="gpf-step") as pool:
            while pending or running:
                try:
                    if not self.cancel.is_set():
                        self._start_ready(pool, pending, parents, finished, running, last)
                    if not running:
                        if pending and not self.cancel.is_set():  # cannot happen with a valid plan
                            raise WorkflowError(f"steps cannot be scheduled: {', '.join(pending)}")
                        break
                    done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        name = running.pop(future)
                        result = future.result()
                        self.results[name] = result
                        finished[name] = result.status
                except KeyboardInterrupt:  # library use; the CLI sets ``cancel`` from its SIGINT handler
                    self._interrupt()

    def _start_ready(
        self,
        pool: ThreadPoolExecutor,
        pending: list[str],
        parents: dict[str, list[str]],
        finished: dict[str, str],
        running: dict[Future[StepResult], str],
        last: dict[str, StepRecord],
    ) -> None:
        """Start (or skip / block) every step whose parents are finished, up to ``jobs`` running."""
        progressed = True
        while progressed:
            progressed = False
            for name in list(pending):
                if not all(p in finished for p in parents[name]):
                    continue
                if len(running) >= self.jobs:
                    return
                pending.remove(name)
                progressed = True
                bad = [p for p in parents[name] if finished[p] not in ("done", "skipped", "planned")]
                if bad:
                    self._skip(name, "blocked", f"parent step {bad[0]!r} did not succeed")
                    finished[name] = "blocked"
                    continue
                record = last.get(name)
                if record is not None and record.status == "done" and not self.force:
                    lost = self._lost(name, record)
                    if not lost:
                        self._skip(name, "skipped", f"done in run {record.run_id}; --force re-runs it")
                        self._recall(name, record)
                        finished[name] = "skipped"
                        continue
                    again = f"step {name!r} was done in run {record.run_id} but {lost[0]}: running it again"
                    self.emit(ev.Warning(message=again, step=name))
                resume = record if record is not None and record.status != "done" else None
                running[pool.submit(self._run_step, name, resume)] = name

    def _notices(self) -> None:
        """What the store says this run should know before it starts (missing PostgreSQL...)."""
        local = self.store.local()
        if local is None:
            return
        bodies = [
            action.data
            for generation in self.generations
            for name in generation
            for action in self.workflow.steps[name].actions
        ]
        for message in local.run_notices(bodies):
            self.emit(ev.Warning(message=message))

    def _interrupt(self) -> None:
        if not self.cancel.is_set():
            self.cancel.set()
            self.emit(
                ev.Warning(message="interrupted: aborting running executions and waiting for them to end")
            )

    def _lost(self, name: str, record: StepRecord) -> list[str]:
        """What is gone or broken among the entities the step's done run left (see engine.liveness)."""
        if self.dry_run:
            return []
        from gpf_flow.engine.liveness import step_lost

        return step_lost(self.store, self.recorder.step_actions(record.run_id, name))

    def _recall(self, name: str, record: StepRecord) -> None:
        """A skipped step keeps the entities and links of the run that did it (for the summary)."""
        result = self.results[name]
        for action in self.recorder.step_actions(record.run_id, name):
            result.entities.extend(action["entities"])
            result.links.extend(action["links"])

    def _skip(self, name: str, status: str, reason: str) -> None:
        now = time.time()
        result = self.results[name]
        result.status, result.reason, result.started, result.finished = status, reason, now, now
        self.recorder.start_step(name, status)
        self.emit(ev.StepSkipped(step=name, reason=reason, status=status))

    # -- one step -----------------------------------------------------------------------------
    def _run_step(self, name: str, resume: StepRecord | None) -> StepResult:
        step = self.workflow.steps[name]
        result = StepResult(name, status="running", started=time.time())
        self.recorder.start_step(name)
        done_before: dict[int, dict[str, Any]] = {}
        if resume is not None and not self.force:
            done_before = {
                a["index"]: a
                for a in self.recorder.step_actions(resume.run_id, name)
                if a["status"] in ("done", "skipped")
            }
        self.emit(ev.StepStarted(step=name, actions=len(step.actions)))
        try:
            for action in step.actions:
                if self.cancel.is_set():
                    raise Interrupted(f"step {name!r} interrupted")
                previous = done_before.get(action.index)
                if previous is not None and previous["type"] == action.type:
                    self._record_skipped_action(name, action, previous, result)
                    continue
                self._run_action(step, action, result, resuming=resume is not None)
            result.status = "planned" if self.dry_run else "done"
        except Interrupted as exc:
            result.status, result.error = "interrupted", str(exc)
        except GpfFlowError as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:  # an unexpected bug must still end the step cleanly
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.finished = time.time()
        self.recorder.finish_step(name, result.status, result.error)
        self.emit(
            ev.StepFinished(
                step=name,
                status=result.status,
                duration=result.finished - (result.started or 0),
                error=result.error,
            )
        )
        return result

    def _record_skipped_action(
        self, name: str, action: Action, previous: dict[str, Any], result: StepResult
    ) -> None:
        """An action done by an earlier attempt of this step: not redone, its record carried over."""
        result.entities.extend(previous["entities"])
        result.links.extend(previous["links"])
        self.recorder.start_action(name, action.index, action.type, previous["body"])
        self.recorder.finish_action(
            name, action.index, "skipped", entities=previous["entities"], links=previous["links"]
        )
        self._action_finished(name, action, "skipped", 0.0, "done in an earlier run")

    def _run_action(self, step: Step, action: Action, result: StepResult, *, resuming: bool) -> None:
        started = time.monotonic()
        # the unresolved body first: kept if resolution fails, replaced once resolved
        self.recorder.start_action(step.name, action.index, action.type, dict(action.data))
        context: ActionContext | None = None
        try:
            store = self._store_for(step, action)
            rctx = self.resolve.for_action(store)
            data = resolve_value(dict(action.data), rctx)
            comments = [str(c) for c in resolve_value(self.workflow.merged_comments(step, action), rctx)]
            tags = {
                str(k): str(v)
                for k, v in resolve_value(self.workflow.merged_tags(step, action), rctx).items()
            }
            self.recorder.start_action(step.name, action.index, action.type, data)
            self.emit(
                ev.ActionStarted(
                    step=step.name,
                    index=action.index,
                    action_type=action.type,
                    body=data,
                    pending=list(rctx.pending),
                )
            )
            if self.dry_run:
                self._action_finished(step.name, action, "planned", 0.0, None)
                return
            context = ActionContext(
                store=store,
                step=step.name,
                index=action.index,
                action_type=action.type,
                data=data,
                comments=comments,
                tags=tags,
                emit=self.emit,
                cancel=self.cancel,
                behavior=self.behavior,
                resuming=resuming,
                yes=self.yes,
                poll_cap=self.poll_cap,
            )
            get_action(action.type)(context)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, Interrupted) else "failed"
            message = str(exc) if isinstance(exc, GpfFlowError) else f"{type(exc).__name__}: {exc}"
            self._end_action(step, action, result, context, status, started, message)
            if isinstance(exc, GpfFlowError):
                raise
            raise WorkflowError(f"action #{action.index + 1} ({action.type}) failed: {message}") from exc
        self._end_action(step, action, result, context, "done", started, None)

    def _end_action(
        self,
        step: Step,
        action: Action,
        result: StepResult,
        context: ActionContext | None,
        status: str,
        started: float,
        error: str | None,
    ) -> None:
        entities = context.entities if context else []
        links = context.links if context else []
        result.entities.extend(entities)
        result.links.extend(links)
        self.recorder.finish_action(
            step.name, action.index, status, entities=entities, links=links, error=error
        )
        self._action_finished(step.name, action, status, time.monotonic() - started, error)

    def _action_finished(
        self, step: str, action: Action, status: str, duration: float, error: str | None
    ) -> None:
        self.emit(
            ev.ActionFinished(
                step=step,
                index=action.index,
                action_type=action.type,
                status=status,
                duration=duration,
                error=error,
            )
        )
