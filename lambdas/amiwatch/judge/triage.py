"""Triage while the scan streams in: which images may have changed (pure, one digest compare)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta

from amiwatch.model.records import ImageRecord
from amiwatch.model.snapshot import (
    DEPRECATED_REPORTED,
    IMMINENT_REPORTED,
    MISSED_ONCE,
    SnapshotEntry,
)
from amiwatch.model.watches import Watch


def due_flags(watch: Watch, record: ImageRecord, now: datetime) -> int:
    """The time-driven flags that should be reported for this record at `now`."""
    deprecation = record.deprecation_time
    if deprecation is None:
        return 0
    if deprecation <= now:
        return DEPRECATED_REPORTED | IMMINENT_REPORTED
    warning = timedelta(days=watch.deprecation_warning_days)
    if watch.deprecation_warning_days and deprecation - warning <= now:
        return IMMINENT_REPORTED
    return 0


def needs_review(
    watch: Watch, entry: SnapshotEntry | None, record: ImageRecord, now: datetime
) -> bool:
    """True when a scanned image may have changed: unknown, new digest, or a time event due."""
    if entry is None:
        return True
    if record.digest(watch.ignore_fields) != entry.digest or entry.flags & MISSED_ONCE:
        return True
    return bool(due_flags(watch, record, now) & ~entry.flags)


class Triage:
    """Sorts a streaming scan: images that may have changed are held for review, in chunks.

    Pure: it only compares. Call `vanished()` after a complete scan; an image missing from an
    incomplete one must never be reported gone. `seen_before`: what earlier invocations of a
    checkpointed scan reviewed (never reviewed again, never vanished).
    """

    def __init__(
        self,
        watch: Watch,
        now: datetime,
        snapshot: Mapping[str, SnapshotEntry],
        *,
        baseline: bool = False,
        seen_before: AbstractSet[str] = frozenset(),
    ) -> None:
        self.watch, self.now, self.snapshot, self.baseline = watch, now, snapshot, baseline
        self.seen_before = seen_before
        self.seen: set[str] = set()
        self.pending: dict[str, ImageRecord] = {}

    def add(self, record: ImageRecord) -> None:
        """Look at one scanned image; keep it only if it may have changed."""
        if record.image_id in self.seen_before:
            return
        self.seen.add(record.image_id)
        entry = self.snapshot.get(record.image_id)
        if self.baseline or needs_review(self.watch, entry, record, self.now):
            self.pending[record.image_id] = record

    def take(self) -> dict[str, ImageRecord]:
        """Hand over the images held for review and forget them."""
        taken, self.pending = self.pending, {}
        return taken

    def vanished(self) -> list[str]:
        """Snapshot images the (complete) scan did not return."""
        seen, before = self.seen, self.seen_before
        return [i for i in self.snapshot if i not in seen and i not in before]
