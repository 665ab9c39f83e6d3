"""Content-Range totals, log page windows and the retry schedule (pure arithmetic)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpf_flow.store.base import flatten_tree
from gpf_flow.store.geoplateforme.paging import content_range_total, log_window
from gpf_flow.store.geoplateforme.retry import Backoff, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "total"),
    [
        ("0-9/42", 42),
        ("1-10/12", 12),
        ("items 0-0/0", 0),
        ("*/17", 17),
        (None, None),
        ("", None),
        ("bytes", None),
    ],
)
def test_gpf_content_range_total(header: str | None, total: int | None) -> None:
    assert content_range_total(header) == total


@given(offset=st.integers(min_value=0, max_value=200_000), max_limit=st.sampled_from([100, 2000]))
def test_gpf_log_window_covers_offset_without_rereading_much(offset: int, max_limit: int) -> None:
    window = log_window(offset, max_limit=max_limit, min_limit=20)
    assert 1 <= window.limit <= max_limit
    # the page starts at or before the offset and contains it (or starts right at it)
    assert window.first_line + window.skip == offset
    assert 0 <= window.skip < window.limit
    if 20 <= offset <= max_limit:
        assert window.skip == 0 and window.first_line == offset


def test_gpf_log_window_examples() -> None:
    assert log_window(0) == log_window(0, max_limit=2000)
    assert (log_window(0).page, log_window(0).limit) == (1, 2000)
    assert (log_window(150).page, log_window(150).limit, log_window(150).skip) == (2, 150, 0)
    # 4000 = 2 * 2000: the third page of 2000 starts exactly there
    assert (log_window(4000).page, log_window(4000).limit) == (3, 2000)
    # a prime offset above the maximum: pages of 2000, skipping the lines already read
    prime = 4001
    window = log_window(prime)
    assert (window.page, window.limit, window.skip) == (3, 2000, 1)
    # tiny offsets: first page, a few lines skipped
    assert (log_window(3).page, log_window(3).skip) == (1, 3)


def test_gpf_backoff_is_exponential_with_jitter_and_capped() -> None:
    backoff = Backoff(base=0.5, factor=2, maximum=8, rng=random.Random(1))
    ceilings = [backoff.ceiling(n) for n in range(6)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    delays = [backoff.delay(n) for n in range(6)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in (Backoff(rng=random.Random(s)).delay(3) for s in range(5))}) > 1


def test_gpf_retry_after_header() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:07 GMT", now=now) == 7
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0
    assert retry_after_seconds("99999") == 120
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_gpf_flatten_tree() -> None:
    tree = [
        {
            "type": "DIRECTORY",
            "name": "CANTON",
            "size": 5,
            "children": [
                {"type": "FILE", "name": "CANTON.shp", "size": 3},
                {
                    "type": "directory",
                    "name": "sub",
                    "children": [{"type": "file", "name": "x.dbf", "size": 2}],
                },
            ],
        },
        {"type": "FILE", "name": "CANTON.md5", "size": 225},
    ]
    assert flatten_tree(tree) == {"CANTON/CANTON.shp": 3, "CANTON/sub/x.dbf": 2, "CANTON.md5": 225}
