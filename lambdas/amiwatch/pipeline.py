"""One run of one watch: lease -> scan -> diff -> publish -> persist."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amiwatch.aws.publish import Publisher
from amiwatch.aws.scan import ImageScan
from amiwatch.aws.store import SnapshotStore
from amiwatch.config import Watch
from amiwatch.diff import ImageOutcome, diff, triage
from amiwatch.events import OutgoingEvent, Target, build_event, event_id
from amiwatch.snapshot import Snapshot


@dataclass(frozen=True)
class WatchAws:
    """The AWS edges one run uses. Without store and publisher the run is a dry run."""

    ec2: Any
    bus_name: str
    store: SnapshotStore | None = None
    publisher: Publisher | None = None


@dataclass
class WatchResult:
    """What a run did, for the handler's summary, logs and metrics."""

    watch: str
    status: str = "ok"  # ok | locked | dry-run | incomplete
    baseline: bool = False
    images: int = 0
    skipped_images: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    events: list[OutgoingEvent] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what the Lambda returns per watch)."""
        return {
            "watch": self.watch,
            "status": self.status,
            "baseline": self.baseline,
            "images": self.images,
            "skippedImages": self.skipped_images,
            "changes": dict(sorted(self.changes.items())),
            "published": len(self.events) - len(self.failed),
            "failed": len(self.failed),
        }


class PublishIncomplete(RuntimeError):
    """Some events were not accepted; their images were left unpersisted for the next run."""

    def __init__(self, result: WatchResult) -> None:
        super().__init__(
            f'watch "{result.watch}": {len(result.failed)} of {len(result.events)} events not '
            f"delivered; they will be re-sent next run with the same eventId"
        )
        self.result = result


def run_watch(
    watch: Watch,
    target: Target,
    aws: WatchAws,
    now: datetime,
    *,
    owner: str = "dry-run",
    lease_seconds: int = 960,
) -> WatchResult:
    """Run one watch once. Raises PublishIncomplete after persisting what was delivered."""
    result = WatchResult(watch.name)
    store, publisher = aws.store, aws.publisher
    if store is None or publisher is None:
        result.status = "dry-run"
        _detect(watch, target, aws, now, result, store)
        return result
    if not store.acquire_lease(owner, now, lease_seconds):
        result.status = "locked"
        return result
    try:
        snapshot, outcomes = _detect(watch, target, aws, now, result, store)
        report = publisher.publish(result.events)
        result.failed = report.failed
        delivered = [o for o in outcomes if _all_accepted(o, target, report.accepted)]
        store.confirm_lease(owner, now, lease_seconds)
        shards = snapshot.apply({o.image_id: o.entry for o in delivered})
        stored = {o.image_id: o.stored for o in delivered if o.stored is not None}
        store.save(stored, shards, snapshot, owner, now, succeeded=not report.failed)
    finally:
        store.release_lease(owner)
    if result.failed:
        result.status = "incomplete"
        raise PublishIncomplete(result)
    return result


def _detect(
    watch: Watch,
    target: Target,
    aws: WatchAws,
    now: datetime,
    result: WatchResult,
    store: SnapshotStore | None,
) -> tuple[Snapshot, list[ImageOutcome]]:
    loaded = store.load() if store is not None else None
    result.baseline = loaded is None
    snapshot = loaded or Snapshot()
    scan = ImageScan(aws.ec2, watch)
    found = triage(watch, now, snapshot.entries, scan, baseline=result.baseline)
    stored = {}
    if store is not None and not result.baseline:
        stored = store.load_images([*found.to_review, *found.vanished])
    outcomes = diff(
        watch,
        now,
        snapshot.entries,
        found.to_review,
        found.vanished,
        stored,
        baseline=result.baseline,
    )
    result.images, result.skipped_images = found.seen, scan.skipped
    for outcome in outcomes:
        for change in outcome.changes:
            result.changes[change.kind.value] += 1
            result.events.append(build_event(target, change, now, aws.bus_name))
    return snapshot, outcomes


def _all_accepted(outcome: ImageOutcome, target: Target, accepted: set[str]) -> bool:
    return all(event_id(target, change) in accepted for change in outcome.changes)
