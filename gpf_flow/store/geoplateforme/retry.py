"""When to try an HTTP request again, and how long to wait before doing so."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses worth another try: rate limiting, gateway trouble, transient server errors."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
"""Methods whose repetition cannot create anything (PATCH bodies here are partial documents)."""


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits up to ``base * factor**n``."""

    base: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number ``attempt`` (0-based)."""
        return float(min(self.maximum, self.base * self.factor**attempt))

    def delay(self, attempt: int) -> float:
        """A random wait in ``[ceiling/2, ceiling]`` (jitter keeps clients from retrying in step)."""
        top = self.ceiling(attempt)
        return top / 2 + self.rng.random() * top / 2


def retry_after_seconds(
    value: str | None, *, now: datetime | None = None, cap: float = 120.0
) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(cap, seconds))
