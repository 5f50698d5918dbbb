"""One run of one watch: lease -> scan -> diff -> publish -> persist.

Images that may have changed are handled in chunks of REVIEW_CHUNK as the scan streams in
(load stored records, diff, publish, write the delivered records), so a baseline of 200k images
never holds 200k records. Shards and meta are written once, at the end, after the scan completed;
only then can an image count as vanished.
"""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amiwatch.aws.publish import Publisher, PublishReport
from amiwatch.aws.scan import ImageScan, lookup_images
from amiwatch.aws.store import SnapshotStore
from amiwatch.config import Watch
from amiwatch.diff import Reselection, Triage, diff
from amiwatch.events import OutgoingEvent, Target, build_event
from amiwatch.notices import NoticePolicy, RunDigest, plan_notices
from amiwatch.records import ImageRecord, parse_time
from amiwatch.snapshot import Snapshot, SnapshotEntry

REVIEW_CHUNK = 5000
KEPT_EVENTS = 1000  # events kept on the result for display (CLI, demo); all are counted


@dataclass(frozen=True)
class WatchAws:
    """The AWS edges one run uses. Without store and publisher the run is a dry run."""

    ec2: Any
    bus_name: str
    store: SnapshotStore | None = None
    publisher: Publisher | None = None
    notices: NoticePolicy = field(default_factory=NoticePolicy)


@dataclass
class WatchResult:
    """What a run did, for the handler's summary, logs, metrics and the benchmark."""

    watch: str
    account: str = ""
    region: str = ""
    status: str = "ok"  # ok | locked | dry-run | incomplete
    baseline: bool = False
    images: int = 0
    skipped_images: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    events: list[OutgoingEvent] = field(default_factory=list)
    published: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    describe_pages: int = 0
    lookup_calls: int = 0
    selection_changed: bool = False
    # Silent outcomes by ImageOutcome.note: refreshed, entered-by-edit, left-by-edit, missed-once.
    silent: Counter[str] = field(default_factory=Counter)
    # imageIds EC2 does not know and the snapshot never had: a typo, or an image long purged.
    unknown_image_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what the Lambda returns per watch)."""
        return {
            "watch": self.watch,
            "account": self.account,
            "region": self.region,
            "status": self.status,
            "baseline": self.baseline,
            "images": self.images,
            "skippedImages": self.skipped_images,
            "changes": dict(sorted(self.changes.items())),
            "published": self.published,
            "failed": len(self.failed),
            "selectionChanged": self.selection_changed,
            "silent": dict(sorted(self.silent.items())),
            "unknownImageIds": list(self.unknown_image_ids),
        }


class PublishIncomplete(RuntimeError):
    """Some events were not accepted; their images were left unpersisted for the next run."""

    def __init__(self, result: WatchResult) -> None:
        total = result.published + len(result.failed)
        super().__init__(
            f'watch "{result.watch}" ({result.account}, {result.region}): '
            f"{len(result.failed)} of {total} events not delivered; "
            "they will be re-sent next run with the same eventId"
        )
        self.result = result


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the collector off the snapshot while the scan allocates.

    Parsing pages creates objects fast; every full collection would walk each snapshot entry
    again (measured: 30% of an unchanged 100k-image run). gc.freeze() parks what exists now
    outside the collector's reach; unfreeze at the end so a warm Lambda does not accumulate.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
    result = WatchResult(watch.name, target.account, target.region)
    store = aws.store
    if aws.publisher is None:
        result.status = "dry-run"
        _Run(watch, target, aws, now, result, owner, lease_seconds).execute()
        return result
    if store is None:
        raise ValueError("a run that publishes needs a snapshot store (or no publisher: dry run)")
    if not store.acquire_lease(owner, now, lease_seconds):
        result.status = "locked"
        return result
    try:
        _Run(watch, target, aws, now, result, owner, lease_seconds).execute()
    finally:
        store.release_lease(owner)
    if result.failed:
        result.status = "incomplete"
        raise PublishIncomplete(result)
    return result


@dataclass
class _Run:
    """The body of one run; `execute` keeps the order that makes a crash harmless."""

    watch: Watch
    target: Target
    aws: WatchAws
    now: datetime
    result: WatchResult
    owner: str
    lease_seconds: int
    updates: dict[str, SnapshotEntry | None] = field(default_factory=dict)
    # Set at the first mid-scan chunk: the run then sends people one digest, with its last chunk.
    run_digest: RunDigest | None = None

    def execute(self) -> None:
        store = self.aws.store
        loaded = store.load() if store is not None else None
        with _frozen_heap():
            self._scan_and_persist(store, loaded)

    def _scan_and_persist(self, store: SnapshotStore | None, loaded: Snapshot | None) -> None:
        self.result.baseline = loaded is None
        snapshot = loaded or Snapshot()
        selection = self.watch.selection_digest()
        reselection = None
        if loaded is not None and loaded.selection not in (None, selection):
            self.result.selection_changed = True
            reselection = Reselection(since=parse_time(loaded.last_run_at))
        triage = Triage(self.watch, self.now, snapshot.entries, baseline=self.result.baseline)
        scan = ImageScan(self.aws.ec2, self.watch)
        for record in scan:
            triage.add(record)
            if len(triage.pending) >= REVIEW_CHUNK:
                self.run_digest = self.run_digest or RunDigest()
                self._review(snapshot, triage.take(), {}, reselection, last=False)
        # Only a complete scan may call an image vanished; ask EC2 what became of each.
        lookup = lookup_images(self.aws.ec2, triage.vanished())
        self.result.lookup_calls = lookup.calls
        self._review(snapshot, triage.take(), lookup.found, reselection)
        self.result.images, self.result.skipped_images = len(triage.seen), scan.skipped
        self.result.describe_pages = scan.pages
        self.result.unknown_image_ids = [i for i in scan.missing_ids if i not in snapshot.entries]
        if store is not None and self.aws.publisher is not None:
            store.confirm_lease(self.owner, self.now, self.lease_seconds)
            snapshot.selection = selection
            shards = snapshot.apply(self.updates)
            store.save_snapshot(
                shards, snapshot, self.owner, self.now, succeeded=not self.result.failed
            )

    def _review(
        self,
        snapshot: Snapshot,
        to_review: dict[str, ImageRecord],
        vanished: dict[str, ImageRecord | None],
        reselection: Reselection | None,
        *,
        last: bool = True,
    ) -> None:
        pending_digest = last and self.run_digest is not None and self.run_digest.people.total
        if not to_review and not vanished and not pending_digest:
            return
        store, baseline = self.aws.store, self.result.baseline
        stored = store.load_images([*to_review, *vanished]) if store and not baseline else {}
        outcomes = diff(
            self.watch, self.now, snapshot.entries, to_review, vanished, stored,
            baseline=baseline, reselection=reselection,
        )  # fmt: skip
        self.result.silent.update(o.note for o in outcomes if o.note)
        events = [
            build_event(self.target, change, self.now, self.aws.bus_name)
            for outcome in outcomes
            for change in outcome.changes
        ]
        for event in events:
            self.result.changes[event.detail["change"]] += 1
        self.result.events.extend(events[: KEPT_EVENTS - len(self.result.events)])
        if self.aws.publisher is None or store is None:
            return
        accepted = self._publish(events, last)
        ids_by_image: dict[str, list[str]] = defaultdict(list)
        for event in events:
            ids_by_image[event.image_id].append(event.event_id)
        delivered = [o for o in outcomes if all(i in accepted for i in ids_by_image[o.image_id])]
        store.confirm_lease(self.owner, self.now, self.lease_seconds)
        store.save_images({o.image_id: o.stored for o in delivered if o.stored}, self.now)
        self.updates.update({o.image_id: o.entry for o in delivered})

    def _publish(self, events: list[OutgoingEvent], last: bool) -> set[str]:
        assert self.aws.publisher is not None
        policy = self.aws.notices
        notices = plan_notices(
            events, self.target, policy, self.aws.bus_name, run=self.run_digest, last=last
        )
        report: PublishReport = self.aws.publisher.publish(events, notices)
        self.result.published += len(report.accepted)
        self.result.failed.update(report.failed)
        if self.run_digest is not None and not last:
            self.run_digest.delivered([e for e in events if e.event_id in report.accepted], policy)
        return report.accepted
