"""Pyramid level bookkeeping: Z-order of jobs, per-level statistics, and the levels above the jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpf_flow.processings.raster_render import TileImage, parent_from_children


def morton_key(tile: tuple[int, int]) -> int:
    """Z-order of a tile: quadtree siblings are contiguous, so subtrees complete one after another."""
    x, y = tile
    key = 0
    for bit in range(32):
        key |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return key


@dataclass
class LevelStats:
    """Tiles written and seconds spent, per level."""

    counts: dict[int, int] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)

    def add(self, counts: dict[Any, Any], seconds: dict[Any, Any]) -> None:
        """Accumulate per-level counts and seconds (keys may be strings from JSON)."""
        for z, n in counts.items():
            self.counts[int(z)] = self.counts.get(int(z), 0) + int(n)
        for z, s in seconds.items():
            self.seconds[int(z)] = self.seconds.get(int(z), 0.0) + float(s)


class UpperLevels:
    """Builds the levels above the job level from job roots, as soon as all children are in."""

    def __init__(
        self,
        jobs: list[tuple[int, int]],
        job_level: int,
        top: int,
        channels: int,
        emit: Callable[[int, int, int, TileImage], bool],
    ) -> None:
        self.top, self.channels, self.emit = top, channels, emit
        self.expected: dict[tuple[int, int, int], int] = {}
        level_tiles = set(jobs)
        for z in range(job_level, top, -1):
            parents: set[tuple[int, int]] = set()
            for x, y in level_tiles:
                key = (z - 1, x // 2, y // 2)
                self.expected[key] = self.expected.get(key, 0) + 1
                parents.add((x // 2, y // 2))
            level_tiles = parents
        self.pending: dict[tuple[int, int, int], dict[tuple[int, int], TileImage]] = {}
        self.received: dict[tuple[int, int, int], int] = {}

    def add(self, z: int, x: int, y: int, image: TileImage | None) -> None:
        """Record a finished tile (``None`` if it holds no data) and build any completed parent."""
        while z > self.top:
            key = (z - 1, x // 2, y // 2)
            if image is not None:
                self.pending.setdefault(key, {})[(x % 2, y % 2)] = image
            self.received[key] = self.received.get(key, 0) + 1
            if self.received[key] < self.expected[key]:
                return
            children = self.pending.pop(key, {})
            del self.received[key]
            z, x, y = key
            image = parent_from_children(children, self.channels) if children else None
            if image is not None and not self.emit(z, x, y, image):
                image = None
