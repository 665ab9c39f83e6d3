"""Finding a creation whose answer was lost, without listing anything before creating.

Before each ``POST`` that creates, the store notes the server's time (estimated from the
``Date`` header of the last response, so the client's clock does not matter). Only when the
answer is lost does it look for the entity: one filtered listing (by name, processing, text...)
keeping those created since that time. The common case, an answered create, costs one request.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

# The Date header has a one-second resolution, and the server stamps `creation` when it handles
# the request: look a little before the estimated time of the POST.
MARGIN = timedelta(seconds=2)


class ServerClock:
    """The server's time, from the ``Date`` header of the latest response it sent."""

    def __init__(self) -> None:
        self._seen: tuple[datetime, float] | None = None

    def observe(self, date_header: str | None) -> None:
        """Remember a response's ``Date`` (ignored when absent or unreadable)."""
        if not date_header:
            return
        try:
            stamp = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        self._seen = (stamp, time.monotonic())

    def now(self) -> datetime:
        """The server's time now (the local clock until a response was seen)."""
        if self._seen is None:
            return datetime.now(UTC)
        stamp, at = self._seen
        return stamp + timedelta(seconds=time.monotonic() - at)

    def mark(self) -> datetime:
        """The earliest ``creation`` an entity created from now on can carry."""
        return self.now() - MARGIN


def parse_date(value: Any) -> datetime | None:
    """An API date (ISO 8601, the offset optional: UTC then) or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def created_since(entities: Iterable[dict[str, Any]], mark: datetime) -> list[dict[str, Any]]:
    """The entities whose ``creation`` is at or after ``mark``, oldest first."""
    fresh = [(parse_date(e.get("creation")), e) for e in entities]
    kept = [(stamp, e) for stamp, e in fresh if stamp is not None and stamp >= mark]
    return [e for _stamp, e in sorted(kept, key=lambda pair: pair[0])]
