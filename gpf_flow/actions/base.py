"""What every action receives and the helpers they share (behaviours, tags, polling)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpf_flow import events as ev
from gpf_flow.errors import Interrupted, NotFoundError, WorkflowError
from gpf_flow.store import ops
from gpf_flow.store.base import Entity, EntityType, OfferingStatus, Store
from gpf_flow.store.follow import PollSchedule

BEHAVIORS = ("STOP", "DELETE", "CONTINUE", "RESUME")
# The official SDK's defaults per action type (config.ini ``behavior_if_exists``).
DEFAULT_BEHAVIORS = {
    "processing-execution": "STOP",
    "configuration": "CONTINUE",
    "copy-configuration": "CONTINUE",
    "offering": "CONTINUE",
}


@dataclass
class ActionContext:
    """One action about to run: its resolved data and the means to act and report."""

    store: Store
    step: str
    index: int
    action_type: str
    data: Mapping[str, Any]
    """The action object with every template resolved."""
    comments: list[str]
    """Merged file → step → action (resolved)."""
    tags: dict[str, str]
    """Merged file → step → action (resolved)."""
    emit: Callable[[ev.Event], None]
    cancel: threading.Event
    behavior: str | None = None
    """``--behavior`` from the command line (None: the type's default)."""
    resuming: bool = False
    """The step failed or was interrupted in an earlier run: resume rather than stop on existing output."""
    yes: bool = False
    """``--yes``: confirm deletions without asking."""
    poll_cap: float = 5.0
    entities: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    # -- reporting ----------------------------------------------------------------------------
    def created(self, entity_type: str, entity: Entity, *, reused: bool = False) -> None:
        """Record and announce an entity this action created (or reused)."""
        name = entity.get("name") or entity.get("layer_name") or (entity.get("processing") or {}).get("name")
        self.entities.append({"type": entity_type, "_id": entity["_id"], "name": name, "reused": reused})
        self.emit(
            ev.EntityCreated(
                step=self.step, entity_type=entity_type, entity_id=entity["_id"], name=name, reused=reused
            )
        )

    def deleted(self, entity_type: str, entity: Entity) -> None:
        """Record (for the summary, ``deleted``) and announce a deletion."""
        name = entity.get("name") or entity.get("layer_name")
        self.entities.append({"type": entity_type, "_id": entity["_id"], "name": name, "deleted": True})
        self.emit(
            ev.EntityDeleted(step=self.step, entity_type=entity_type, entity_id=entity["_id"], name=name)
        )

    def warn(self, message: str) -> None:
        """Announce something that does not stop the action."""
        self.emit(ev.Warning(message=message, step=self.step))

    def published(self, offering: Entity) -> None:
        """Record and announce the links of a published offering."""
        urls = list(offering.get("urls") or [])
        preview = (offering.get("extra") or {}).get("preview")  # where the REST API puts our preview page
        if isinstance(preview, str) and not any(u.get("type") == "PREVIEW" for u in urls):
            urls.append({"type": "PREVIEW", "url": preview})
        self.links.append(
            {
                "offering": offering["_id"],
                "layer_name": offering.get("layer_name"),
                "type": offering.get("type"),
                "urls": urls,
            }
        )
        self.emit(
            ev.LinkPublished(
                step=self.step,
                offering_id=offering["_id"],
                layer_name=offering.get("layer_name"),
                offering_type=offering.get("type"),
                urls=urls,
            )
        )

    # -- behaviour ----------------------------------------------------------------------------
    def effective_behavior(self) -> str:
        """``--behavior`` if given, RESUME for a resumed processing, else the type's default."""
        if self.behavior:
            return self.behavior
        if self.resuming and self.action_type == "processing-execution":
            return "RESUME"
        return DEFAULT_BEHAVIORS.get(self.action_type, "STOP")

    def reuse_or_replace(self, label: str, kind: str) -> bool:
        """For an entity that exists and cannot be resumed (configuration, offering): True to
        replace it (DELETE), False to reuse it (CONTINUE); STOP and RESUME raise."""
        behavior = self.effective_behavior()
        if behavior in ("STOP", "RESUME"):
            why = "" if behavior == "STOP" else f" (RESUME does not apply to {kind})"
            raise WorkflowError(
                f"{label} already exists{why}",
                hint="use --behavior CONTINUE to reuse it or DELETE to replace it",
            )
        return behavior == "DELETE"

    def sleep(self, seconds: float) -> None:
        """Wait, but stop at once on Ctrl-C."""
        if self.cancel.wait(seconds):
            raise Interrupted(f"step {self.step!r} interrupted")

    def require(self, key: str, where: Mapping[str, Any] | None = None) -> Any:
        """A mandatory key of the action (or of one of its objects)."""
        source = self.data if where is None else where
        if key not in source or source[key] in (None, ""):
            raise WorkflowError(
                f"step {self.step!r}, action #{self.index + 1} ({self.action_type}): missing {key!r}"
            )
        return source[key]


def apply_tags_and_comments(
    ctx: ActionContext, entity_type: EntityType, entity_id: str, *, fresh: bool = False
) -> None:
    """Merge the action's tags into the entity and add its comments that are not there yet
    (``fresh``: the entity was just created, it has none: they are not read back)."""
    if ctx.tags:
        ops.add_tags(ctx.store, entity_type, entity_id, ctx.tags)
    if not ctx.comments:  # no need to read the entity's comments
        return
    listed = [] if fresh else ops.list_comments(ctx.store, entity_type, entity_id)
    existing = {c.get("text") for c in listed if c}
    for text in ctx.comments:
        if text not in existing:
            ops.add_comment(ctx.store, entity_type, entity_id, text)
            existing.add(text)


def wait_status(
    ctx: ActionContext,
    entity_type: EntityType,
    entity_id: str,
    targets: tuple[str, ...],
    *,
    cap: float = 1.0,
    gone_ok: bool = False,
) -> Entity | None:
    """Poll an entity until its status is one of ``targets`` (or it is gone, with ``gone_ok``)."""
    schedule = PollSchedule(maximum=min(cap, ctx.poll_cap))
    delay = schedule.first
    last = None
    while True:
        try:
            entity = ctx.store.get_entity(entity_type, entity_id)
        except NotFoundError:
            if gone_ok:
                return None
            raise
        status = entity.get("status")
        changed = status != last
        if changed:
            ctx.emit(
                ev.StatusChanged(
                    step=ctx.step, entity_type=entity_type, entity_id=entity_id, status=str(status)
                )
            )
            last = status
        if status in targets:
            return entity
        ctx.sleep(delay)
        delay = schedule.next(delay, changed)


def delete_offering(ctx: ActionContext, offering: Entity) -> None:
    """Unpublish then delete an offering (API semantics: the first DELETE only unpublishes)."""
    store, oid = ctx.store, offering["_id"]
    if offering.get("status") in (
        OfferingStatus.PUBLISHED,
        OfferingStatus.UNSTABLE,
        OfferingStatus.PUBLISHING,
        OfferingStatus.MODIFYING,
    ):
        store.delete_entity(EntityType.OFFERING, oid)
        if wait_status(ctx, EntityType.OFFERING, oid, (OfferingStatus.UNPUBLISHED,), gone_ok=True) is None:
            ctx.deleted("offering", offering)
            return
    store.delete_entity(EntityType.OFFERING, oid)
    wait_status(ctx, EntityType.OFFERING, oid, (), gone_ok=True)
    ctx.deleted("offering", offering)


def exact_one(ctx: ActionContext, entity_type: EntityType, infos: Mapping[str, str]) -> Entity | None:
    """The first entity whose infos equal ``infos`` exactly (uniqueness checks), fetched in full."""
    page = ctx.store.list_entities(entity_type, infos, None, page=1, limit=10)
    for item in page.items:
        if all(str(item[k]) == str(v) for k, v in infos.items() if k in item):
            return ctx.store.get_entity(entity_type, item["_id"])
    return None
