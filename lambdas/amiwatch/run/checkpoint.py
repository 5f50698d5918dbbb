"""A scan that outlives one invocation (see docs/design.md, "Checkpointed scans").

Near the end of its time, a scan stops at a page boundary, reviews what it holds, and persists a
checkpoint: the NextToken of the next page, the ids it reviewed (so none is judged twice, and
none is called vanished before the whole scan has been read) and the images whose events were
not delivered (reviewed again first). The wiring then enqueues the continuation on the target
queue; it resumes under its own lease. Pure: what the run decides, not how it is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from amiwatch.model.records import format_time
from amiwatch.model.snapshot import ScanCheckpoint, Snapshot, parts_for
from amiwatch.run.packed import PackedEntries

# The margin kept for the work in flight at a checkpoint (review, publish, the checkpoint's
# writes): a share of the invocation's time, at least MIN_MARGIN_SECONDS, plus twice the
# slowest page-and-review cycle seen so far.
MARGIN_SHARE, MIN_MARGIN_SECONDS = 0.15, 30.0
# A scan also stops once the process holds this share of the function's memory, or
# MEMORY_CEILING_MB if less (the page in flight and the writes at the stop then stay within
# 512 MB): what one invocation reviews is written, and the next starts lean.
MEMORY_SHARE, MEMORY_CEILING_MB = 0.7, 448.0


@dataclass
class Deadline:
    """When this invocation's scan must stop: `remaining` is the time left (seconds, from the
    Lambda context); `resident` the process's memory now (MB) and `memory_budget` how much it
    may hold before it stops (None: no memory rule)."""

    remaining: Callable[[], float]
    margin: float
    resident: Callable[[], float | None] = lambda: None
    memory_budget: float | None = None
    slowest: float = 0.0
    _lap_started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(
        cls,
        remaining: Callable[[], float],
        memory_mb: float | None = None,
        resident: Callable[[], float | None] = lambda: None,
    ) -> Deadline:
        """The deadline of an invocation with this much time (and `memory_mb`) left now."""
        budget = min(MEMORY_SHARE * memory_mb, MEMORY_CEILING_MB) if memory_mb else None
        return cls(remaining, max(MIN_MARGIN_SECONDS, MARGIN_SHARE * remaining()), resident,
                   budget)  # fmt: skip

    def start(self) -> None:
        """The scan begins: the first page's lap starts now (loading the snapshot is not one)."""
        self._lap_started = time.monotonic()

    def due(self) -> bool:
        """After a page: must the scan stop here? (It also times the page just done.)"""
        now = time.monotonic()
        self.slowest = max(self.slowest, now - self._lap_started)
        self._lap_started = now
        if self.remaining() < self.margin + 2 * self.slowest:
            return True
        if self.memory_budget is None:
            return False
        held = self.resident()
        return held is not None and held > self.memory_budget


@dataclass
class ScanProgress:
    """Which scan this invocation carries on, and what earlier invocations already did."""

    scan_id: str
    baseline: bool
    started_at: str
    selection: str
    previous: ScanCheckpoint | None = None  # the checkpoint this invocation resumes
    seen_before: AbstractSet[str] = frozenset()  # ids earlier invocations reviewed

    @property
    def start_token(self) -> str | None:
        return self.previous.token if self.previous else None

    @property
    def recheck(self) -> tuple[str, ...]:
        return self.previous.recheck if self.previous else ()

    def checkpoint(
        self,
        token: str | None,
        pages: int,
        reviewed: list[str],
        held: Iterable[str],
        candidates: dict[str, dict[str, Any]],
    ) -> ScanCheckpoint:
        """The checkpoint after this invocation: its pages and reviewed ids added."""
        before = self.previous
        return ScanCheckpoint(
            scan_id=self.scan_id,
            token=token,
            baseline=self.baseline,
            started_at=self.started_at,
            selection=self.selection,
            pages=(before.pages if before else 0) + pages,
            images=(before.images if before else 0) + len(reviewed),
            invocations=(before.invocations if before else 0) + 1,
            parts=(before.parts if before else 0) + parts_for(len(reviewed)),
            recheck=tuple(sorted(held)),
            candidates=candidates,
        )

    def summary(
        self, after: ScanCheckpoint, *, checkpointed: bool, restarted: bool
    ) -> dict[str, Any] | None:
        """The run summary's `scan`: where the scan stands `after` this invocation (None for a
        scan that began and ended in one invocation)."""
        if not checkpointed and self.previous is None:
            return None
        return {**after.summary(), "resumed": self.previous is not None,
                "checkpointed": checkpointed, "restarted": restarted}  # fmt: skip


def seen_before(snapshot: Snapshot, parts: Iterable[list[str]]) -> AbstractSet[str]:
    """What earlier invocations reviewed: one bit per entry of a packed snapshot (their ids are
    all in it: the checkpoint wrote their entries), a set otherwise."""
    if isinstance(snapshot.entries, PackedEntries):
        for part in parts:
            snapshot.entries.mark(part)
        return snapshot.entries.marked()
    return {image_id for part in parts for image_id in part}


def progress_for(loaded: Snapshot | None, selection: str, run_id: str, now: Any) -> ScanProgress:
    """Resume the checkpointed scan `loaded` records, or begin one. A checkpoint taken with
    another selection (the watch was edited mid-scan) is dropped: its NextToken belongs to
    other filters. A scan is a baseline until one has completed (`lastRunAt`)."""
    checkpoint = loaded.checkpoint if loaded is not None else None
    if checkpoint is not None and checkpoint.selection == selection:
        return ScanProgress(checkpoint.scan_id, checkpoint.baseline, checkpoint.started_at,
                            selection, checkpoint)  # fmt: skip
    baseline = loaded is None or loaded.last_run_at is None
    started = format_time(now)
    return ScanProgress(f"{started}#{run_id}", baseline, started, selection)
