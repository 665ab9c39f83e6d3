"""Page arithmetic: ``Content-Range`` headers, and which log pages hold the lines not yet read."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"(\d+)-(\d+)/(\d+)")
_TOTAL_ONLY = re.compile(r"/\s*(\d+)\s*$")


def content_range_total(header: str | None) -> int | None:
    """The total of a ``Content-Range`` header (``0-9/42`` or ``*/42``); None when absent or unreadable."""
    if not header:
        return None
    match = _RANGE.search(header) or _TOTAL_ONLY.search(header)
    return int(match.groups()[-1]) if match else None


@dataclass(frozen=True)
class LogWindow:
    """One log request: ``page``/``limit`` to ask, and how many leading lines of it were already read."""

    page: int
    limit: int
    skip: int

    @property
    def first_line(self) -> int:
        """0-based index of the first line of the page."""
        return (self.page - 1) * self.limit


def log_window(offset: int, *, max_limit: int = 2000, min_limit: int = 20) -> LogWindow:
    """The page that starts as close as possible to line ``offset`` (0-based).

    The API only takes ``page`` and ``limit``, so a page starts at a multiple of ``limit``. The
    largest ``limit <= max_limit`` dividing ``offset`` makes a page start exactly at ``offset``
    (nothing read twice); if only tiny divisors exist (prime offsets), pages of ``max_limit`` are
    used and the few old lines at the head of the page are skipped.
    """
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if offset == 0:
        return LogWindow(page=1, limit=max_limit, skip=0)
    for limit in range(min(offset, max_limit), min_limit - 1, -1):
        if offset % limit == 0:
            return LogWindow(page=offset // limit + 1, limit=limit, skip=0)
    page = offset // max_limit + 1
    return LogWindow(page=page, limit=max_limit, skip=offset - (page - 1) * max_limit)
