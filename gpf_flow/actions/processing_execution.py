"""``processing-execution``: create an execution, launch it, follow it to its end (docs/entrepot-api.md §5.2).

Logs are streamed from the last line read (never re-printed). Polling is adaptive: 0.2 s at
first, backing off to the store's cap, and reset to fast whenever new log lines arrive. Ctrl-C
aborts the execution on the store and waits until it has really ended.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gpf_flow import events as ev
from gpf_flow.actions.base import ActionContext, apply_tags_and_comments, exact_one
from gpf_flow.errors import Interrupted, WorkflowError
from gpf_flow.store.base import Action, Entity, EntityType, ExecutionStatus, StoredDataStatus
from gpf_flow.store.follow import PollSchedule, follow_execution
from gpf_flow.store.views import ExecutionView, StoredDataView

LOG_TAIL = 5  # log lines quoted in the error of a failed execution


def run(ctx: ActionContext) -> None:
    """Run the action."""
    body: dict[str, Any] = dict(ctx.require("body_parameters"))
    output = body.get("output") or {}
    out_sd = output.get("stored_data") if isinstance(output, dict) else None
    out_sd = out_sd if isinstance(out_sd, dict) else {}
    execution: Entity | None = None
    if out_sd.get("name"):
        execution = _existing_output(ctx, str(out_sd["name"]))
    elif out_sd.get("_id"):
        execution = _existing_update(ctx, body, str(out_sd["_id"]))
    created = execution is None
    if execution is None:
        execution = ctx.store.create_entity(EntityType.PROCESSING_EXECUTION, body)
        ctx.created("processing_execution", execution)
    view = ExecutionView.of(execution)
    out_type, out_entity = view.output_type, view.output
    if out_type and out_entity:
        if created and not out_sd.get("_id"):  # a new output (an updated one already existed)
            ctx.created(out_type, out_entity)
        fresh = created and not out_sd.get("_id")
        apply_tags_and_comments(ctx, out_type, out_entity["_id"], fresh=fresh)
    if view.status == ExecutionStatus.CREATED:
        ctx.store.act(EntityType.PROCESSING_EXECUTION, execution["_id"], Action.LAUNCH)
    tail: deque[str] = deque(maxlen=LOG_TAIL)
    final = ExecutionView.of(follow(ctx, execution["_id"], tail))
    if not final.succeeded:
        last = "".join(f"\n    | {line}" for line in tail)
        raise WorkflowError(
            f"processing execution {execution['_id']} ({final.processing_name}) ended {final.status_text}"
            + (f"; last log lines:{last}" if last else ""),
            hint=f"the execution as JSON: gpf-flow entities get processing_execution {execution['_id']}",
        )


_RELAUNCHABLE = (ExecutionStatus.FAILURE, ExecutionStatus.ABORTED)


def _existing_output(ctx: ActionContext, name: str) -> Entity | None:
    """Apply the behaviour when the output stored data already exists; the execution to follow."""
    stored = exact_one(ctx, EntityType.STORED_DATA, {"name": name})
    if stored is None:
        return None
    behavior = ctx.effective_behavior()
    state = StoredDataView.of(stored)
    label = f"stored data {name!r} ({state.id}, {state.status_text})"
    if behavior == "STOP":
        raise WorkflowError(
            f"{label} already exists",
            hint="use --behavior DELETE to replace it, CONTINUE or RESUME to reuse it",
        )
    unstable = state.status == StoredDataStatus.UNSTABLE
    if behavior == "DELETE" or (behavior == "RESUME" and unstable):
        ctx.store.delete_entity(EntityType.STORED_DATA, stored["_id"])
        ctx.deleted("stored_data", stored)
        return None
    if unstable:
        raise WorkflowError(
            f"{label} is UNSTABLE (an earlier execution failed)", hint="use --behavior RESUME"
        )
    page = ctx.store.list_entities(
        EntityType.PROCESSING_EXECUTION, {"output_stored_data": stored["_id"]}, page=1, limit=10
    )
    if not page.items:
        if state.status == StoredDataStatus.GENERATED:
            ctx.warn(f"{label} exists and no execution produced it here: reused as it is")
            ctx.created("stored_data", stored, reused=True)
            return {"_id": "", "status": ExecutionStatus.SUCCESS.value, "output": {"stored_data": stored}}
        raise WorkflowError(f"{label} exists but no execution produces it", hint="use --behavior DELETE")
    execution = ctx.store.get_entity(EntityType.PROCESSING_EXECUTION, page.items[0]["_id"])
    ctx.created("processing_execution", execution, reused=True)
    ctx.created("stored_data", stored, reused=True)
    return execution


def _existing_update(ctx: ActionContext, body: dict[str, Any], stored_id: str) -> Entity | None:
    """An update of an existing stored data: find an execution with the same inputs and parameters."""
    ctx.store.get_entity(EntityType.STORED_DATA, stored_id)
    filters = {"output_stored_data": stored_id}
    if body.get("processing"):
        filters["processing"] = str(body["processing"])
    wanted_inputs = {k: sorted(v or []) for k, v in (body.get("inputs") or {}).items()}
    for item in ctx.store.list_entities(EntityType.PROCESSING_EXECUTION, filters, page=1, limit=10).items:
        candidate = ctx.store.get_entity(EntityType.PROCESSING_EXECUTION, item["_id"])
        inputs = {
            k: sorted(x["_id"] if isinstance(x, dict) else x for x in v or [])
            for k, v in (candidate.get("inputs") or {}).items()
        }
        same_inputs = all(inputs.get(k, []) == v for k, v in wanted_inputs.items())
        if not same_inputs or (candidate.get("parameters") or {}) != (body.get("parameters") or {}):
            continue
        behavior = ctx.effective_behavior()
        if behavior == "STOP":
            raise WorkflowError(
                f"an execution updating stored data {stored_id} with the same inputs exists "
                f"({candidate['_id']})",
                hint="use --behavior DELETE, CONTINUE or RESUME",
            )
        if behavior == "DELETE" or (
            behavior == "RESUME" and ExecutionView.of(candidate).status in _RELAUNCHABLE
        ):
            return None
        ctx.created("processing_execution", candidate, reused=True)
        return candidate
    return None


def follow(ctx: ActionContext, execution_id: str, tail: deque[str] | None = None) -> Entity:
    """Follow an execution to a terminal status, streaming new log lines; abort on Ctrl-C.

    ``tail`` (a bounded deque) receives the lines too, for error messages."""
    if not execution_id:  # reused output without execution
        return {"status": ExecutionStatus.SUCCESS.value}

    def on_lines(offset: int, lines: list[str]) -> None:
        for number, line in enumerate(lines, start=offset):
            ctx.emit(ev.LogLine(step=ctx.step, execution_id=execution_id, number=number, line=line))
            if tail is not None:
                tail.append(line)

    def on_status(status: str) -> None:
        ctx.emit(
            ev.StatusChanged(
                step=ctx.step, entity_type="processing_execution", entity_id=execution_id, status=status
            )
        )

    execution = follow_execution(
        ctx.store,
        execution_id,
        on_lines=on_lines,
        on_status=on_status,
        schedule=PollSchedule(maximum=ctx.poll_cap),
        cancel=ctx.cancel,
    )
    if ctx.cancel.is_set():
        status = ExecutionView.of(execution).status_text
        raise Interrupted(f"step {ctx.step!r} interrupted: execution {execution_id} {status}")
    return execution
