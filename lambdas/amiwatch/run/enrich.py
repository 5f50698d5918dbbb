"""What an event carries besides the change: who is hit (`usage`), Inspector's findings for a
`vulnerable` image, and what to move to (`replacement`). Outside the eventId, looked up only for
the events that warrant them, and never at the cost of the alert: all of a run's lookups share
one time budget, and a failure or a spent budget only sets an `error`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from amiwatch.judge.findings import findings_detail
from amiwatch.judge.replacement import REPLACED_KINDS, Candidates, replacement_detail
from amiwatch.judge.usage import USAGE_KINDS, usage_from, usage_image
from amiwatch.messages.budget import fit_event
from amiwatch.model.contract import Change, ChangeKind, OutgoingEvent, Target, build_event
from amiwatch.model.records import format_time
from amiwatch.run.ports import ImageSource

LOOKUP_BUDGET_SECONDS = 5.0  # for all of a run's usage and findings lookups
T = TypeVar("T")


@dataclass
class Enricher:
    """Builds a run's events: each change with what enriches it, within AWS's size limits."""

    images: ImageSource
    target: Target
    candidates: Candidates
    # A parameters watch: the AMI a parameter moved away from -> the one it names now.
    moved_to: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # Seconds of lookups left. Spent time is counted per lookup, not since the first one: a run
    # reviewed in chunks scans between them, and that time is not the lookups'.
    budget_left: float = LOOKUP_BUDGET_SECONDS
    clock: Callable[[], float] = time.monotonic
    reference_calls: int = 0
    finding_calls: int = 0
    finding_errors: int = 0

    def events(self, changes: list[Change], now: datetime, bus_name: str) -> list[OutgoingEvent]:
        usage, findings = self._usage(changes), self._findings(changes)
        return [
            fit_event(build_event(
                self.target, change, now, bus_name,
                usage.get(usage_image(change)) if change.kind in USAGE_KINDS else None,
                findings=findings.get(change.image.image_id)
                if change.kind == ChangeKind.VULNERABLE else None,
                replacement=self.replacement(change),
            ), self.target.partition)
            for change in changes
        ]  # fmt: skip

    def replacement(self, change: Change) -> dict[str, Any] | None:
        if change.kind not in REPLACED_KINDS:
            return None
        moved = self.moved_to.get(change.image.image_id)
        if moved is not None:
            return replacement_detail(moved, self.candidates.watch.vulnerable_at)
        return self.candidates.for_image(change.image)

    def _within_budget(self, lookup: Callable[[float], T]) -> T:
        """Run a lookup with the time the run has left for lookups (its deadline), and count
        what it spent."""
        started = self.clock()
        try:
            return lookup(started + self.budget_left)
        finally:
            self.budget_left = max(0.0, self.budget_left - (self.clock() - started))

    def _usage(self, changes: list[Change]) -> dict[str, dict[str, Any]]:
        """Who still uses the images of the changes that warrant it (10 ids a call)."""
        ids = list(dict.fromkeys(usage_image(c) for c in changes if c.kind in USAGE_KINDS))
        if not ids:
            return {}
        lookup = self._within_budget(lambda deadline: self.images.references(ids, deadline))
        self.reference_calls += lookup.calls
        where = {"checked_at": format_time(datetime.now(UTC)), "account": self.target.account,
                 "region": self.target.region}  # fmt: skip
        return {
            i: usage_from(lookup.references.get(i), lookup.errors.get(i), **where).as_detail()
            for i in ids
        }

    def _findings(self, changes: list[Change]) -> dict[str, dict[str, Any]]:
        """Inspector's findings of the images of `vulnerable` changes (GetImageFindings)."""
        records = {c.image.image_id: c.image for c in changes if c.kind == ChangeKind.VULNERABLE}
        if not records:
            return {}
        lookup = self._within_budget(lambda until: self.images.findings(list(records), until))
        self.finding_calls += lookup.calls
        self.finding_errors += len(lookup.errors)
        return {
            i: findings_detail(record, lookup.findings.get(i), lookup.errors.get(i))
            for i, record in records.items()
        }
