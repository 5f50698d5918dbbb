"""One run of one watch: lease -> scan -> diff -> publish -> persist.

Images that may have changed are handled in chunks of REVIEW_CHUNK as the scan streams in
(load stored records, diff, publish, write the delivered records), so a baseline of 200k images
never holds 200k records. Shards and meta are written once, at the end, after the scan completed;
only then can an image count as vanished. A scan that would outlive its invocation stops at a
page boundary and checkpoints instead (amiwatch.run.checkpoint); a later invocation resumes it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from amiwatch.judge.allowed import AllowedImages, Visibility
from amiwatch.judge.diff import diff
from amiwatch.judge.outcomes import ImageOutcome, Reselection
from amiwatch.judge.replacement import Candidates
from amiwatch.judge.triage import Triage
from amiwatch.messages.sns import NoticePolicy, RunDigest, plan_notices
from amiwatch.model.contract import Change, OutgoingEvent, Target
from amiwatch.model.records import ImageRecord, parse_time
from amiwatch.model.snapshot import Snapshot, SnapshotEntry
from amiwatch.model.watches import Watch
from amiwatch.run.checkpoint import Deadline, ScanProgress, progress_for, seen_before
from amiwatch.run.enrich import Enricher
from amiwatch.run.following import follow_parameters
from amiwatch.run.leased import frozen_heap, run_leased
from amiwatch.run.ports import (
    ImageSource,
    ParameterSource,
    Publisher,
    PublishReport,
    RunObserver,
    Scan,
    SnapshotStore,
)
from amiwatch.run.result import WatchResult

REVIEW_CHUNK = 1000


@dataclass(frozen=True)
class WatchPorts:
    """What one run talks to. Without store and publisher the run is a dry run."""

    images: ImageSource
    bus_name: str
    store: SnapshotStore | None = None
    publisher: Publisher | None = None
    notices: NoticePolicy = field(default_factory=NoticePolicy)
    observer: RunObserver | None = None
    parameters: ParameterSource | None = None  # for watches of SSM public parameters
    deadline: Deadline | None = None  # when a long scan must checkpoint (None: never)


def run_watch(
    watch: Watch,
    target: Target,
    ports: WatchPorts,
    now: datetime,
    *,
    owner: str = "dry-run",
    lease_seconds: int = 960,
    scan_id: str | None = None,
) -> WatchResult:
    """Run one watch once (`scan_id`: only to continue that checkpointed scan). Raises
    PublishIncomplete after persisting what was delivered."""
    result = WatchResult(watch.name, target.account, target.region)
    body = WatchRun(watch, target, ports, now, result, owner, lease_seconds, continues=scan_id)
    return run_leased(body)


@dataclass
class WatchRun:
    """The body of one scheduled run; `execute` keeps the order that makes a crash harmless.
    (A targeted refresh is a variant: amiwatch.run.refresh.)"""

    watch: Watch
    target: Target
    ports: WatchPorts
    now: datetime
    result: WatchResult
    owner: str
    lease_seconds: int
    updates: dict[str, SnapshotEntry | None] = field(default_factory=dict)
    # Set at the first mid-scan chunk: the run then sends people one digest, with its last chunk.
    run_digest: RunDigest | None = None
    allowed: AllowedImages | None = None  # the target's Allowed AMIs, read once when needed
    enricher: Enricher | None = None  # what events carry besides the change (execute makes it)
    continues: str | None = None  # a continuation: the checkpointed scan it carries on
    held: set[str] = field(default_factory=set)  # images whose events were not all delivered

    def execute(self) -> None:
        store = self.ports.store
        loaded = store.load() if store is not None else None
        checkpoint = loaded.checkpoint if loaded is not None else None
        if self.continues is not None and (
            checkpoint is None or checkpoint.scan_id != self.continues
        ):
            self.result.status = "superseded"  # that scan completed already: nothing to do
            return
        self.enricher = self.enricher_for(loaded)
        if self.watch.follows_parameters:
            ports = (self.ports.images, self.ports.parameters, self.ports.store)
            self.watch = follow_parameters(self.watch, self.target, ports, self.result,
                                           self.enricher, self._publish_changes,
                                           baseline=loaded is None)  # fmt: skip
        with frozen_heap():
            self._scan_and_persist(store, loaded)

    def _publish_changes(self, changes: list[Change]) -> set[str]:
        events = self.events(changes)
        return self.publish(events, last=True) if self.ports.publisher else set()

    def enricher_for(self, loaded: Snapshot | None) -> Enricher:
        """The run's enricher, its replacement candidates seeded with what the last full run
        kept."""
        kept = loaded.candidates if loaded is not None else {}
        if loaded is not None and loaded.checkpoint is not None:
            kept = loaded.checkpoint.candidates  # what the scan in progress offered so far
        candidates = Candidates(self.watch, self.now, kept=kept)
        return Enricher(self.ports.images, self.target, candidates)

    def _scan_and_persist(self, store: SnapshotStore | None, loaded: Snapshot | None) -> None:
        snapshot = loaded or Snapshot()
        selection = self.watch.selection_digest()
        progress = progress_for(loaded, selection, self.owner, self.now)
        if progress.previous is not None and store is not None:
            progress.seen_before = seen_before(snapshot, store.load_seen(progress.previous))
        self.result.baseline = progress.baseline
        reselection = None
        if loaded is not None and loaded.selection not in (None, selection):
            self.result.selection_changed = True
            # A parameters watch's images change with its parameters: the `recommended` event
            # already said so, so images enter and leave it silently (since=None).
            since = None if self.watch.follows_parameters else parse_time(loaded.last_run_at)
            reselection = Reselection(since=since)
        triage = Triage(self.watch, self.now, snapshot.entries, baseline=progress.baseline,
                        seen_before=progress.seen_before)  # fmt: skip
        assert self.enricher is not None
        candidates = self.enricher.candidates
        if progress.recheck:  # undelivered before the checkpoint: reviewed again, first
            for record in self.ports.images.scan_ids(self.watch, progress.recheck):
                triage.add(record)
        scan = self.ports.images.scan(self.watch, start=progress.start_token)
        deadline = self.ports.deadline if store is not None and self.ports.publisher else None
        if deadline is not None:
            deadline.start()
        for page in scan.by_page():
            for record in page:
                triage.add(record)
                candidates.offer(record.fields)
            if len(triage.pending) >= REVIEW_CHUNK:
                self.run_digest = self.run_digest or RunDigest()
                self._review(snapshot, triage.take(), {}, reselection, last=False)
            if deadline is not None and scan.next_token is not None and deadline.due():
                assert store is not None
                self._checkpoint(store, snapshot, triage, scan, progress, reselection)
                return
        # Only a complete scan may call an image vanished; ask EC2 what became of each.
        lookup = self.ports.images.lookup(triage.vanished())
        self.result.lookup_calls = lookup.calls
        self._review(snapshot, triage.take(), lookup.found, reselection)
        if self.allowed is None and self.result.changes.get("disallowed"):
            # Audit mode said so through ImageAllowed: the summary says in which state.
            self.result.allowed_images = self.ports.images.allowed_images()
        self.result.images, self.result.skipped_images = len(triage.seen), scan.skipped
        self.result.describe_pages = scan.pages
        self.result.unknown_image_ids = [i for i in scan.missing_ids if i not in snapshot.entries]
        if store is not None and self.ports.publisher is not None:
            store.confirm_lease(self.owner, self.now, self.lease_seconds)
            snapshot.selection = selection
            snapshot.candidates = candidates.kept_for_next()
            shards = snapshot.apply(self.updates)
            store.save_snapshot(shards, snapshot, self.owner, self.now,
                                succeeded=not self.result.undelivered,
                                changes=dict(self.result.changes))  # fmt: skip
            if progress.previous is not None:
                store.forget_scan(progress.previous)
        done = progress.checkpoint(None, scan.pages, list(triage.seen), (), {})
        self.result.scan = progress.summary(done, checkpointed=False, restarted=scan.restarted)

    def _checkpoint(
        self,
        store: SnapshotStore,
        snapshot: Snapshot,
        triage: Triage,
        scan: Scan,
        progress: ScanProgress,
        reselection: Reselection | None,
    ) -> None:
        """Stop here: review what is held (people get this invocation's digest), then persist
        the reviewed ids, the touched shards and the checkpoint."""
        self._review(snapshot, triage.take(), {}, reselection)
        reviewed = [image_id for image_id in triage.seen if image_id not in self.held]
        assert self.enricher is not None
        checkpoint = progress.checkpoint(scan.next_token, scan.pages, reviewed, self.held,
                                         self.enricher.candidates.kept_for_next())  # fmt: skip
        store.confirm_lease(self.owner, self.now, self.lease_seconds)
        store.save_checkpoint(snapshot.apply(self.updates), snapshot, checkpoint, reviewed,
                              self.owner, self.now)  # fmt: skip
        self.result.status = "checkpointed"
        self.result.images, self.result.skipped_images = len(triage.seen), scan.skipped
        self.result.describe_pages = scan.pages
        self.result.scan = progress.summary(checkpoint, checkpointed=True,
                                            restarted=scan.restarted)  # fmt: skip

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
        store, baseline = self.ports.store, self.result.baseline
        stored = store.load_images([*to_review, *vanished]) if store and not baseline else {}
        outcomes = diff(
            self.watch, self.now, snapshot.entries, to_review, vanished, stored,
            baseline=baseline, reselection=reselection, visibility=self._visibility(vanished),
        )  # fmt: skip
        self.result.silent.update(o.note for o in outcomes if o.note)
        events = self.events([change for outcome in outcomes for change in outcome.changes])
        self._observe_baseline(outcomes)
        if self.ports.publisher is None or store is None:
            return
        accepted = self.publish(events, last)
        ids_by_image: dict[str, list[str]] = defaultdict(list)
        for event in events:
            ids_by_image[event.image_id].append(event.event_id)
        delivered = [o for o in outcomes if all(i in accepted for i in ids_by_image[o.image_id])]
        self.held.update({o.image_id for o in outcomes} - {o.image_id for o in delivered})
        store.confirm_lease(self.owner, self.now, self.lease_seconds)
        store.save_images({o.image_id: o.stored for o in delivered if o.stored}, self.now)
        self.updates.update({o.image_id: o.entry for o in delivered})

    def _visibility(self, vanished: Mapping[str, ImageRecord | None]) -> Visibility:
        """The target's account, and its Allowed AMIs once an image EC2 no longer shows at all
        needs judging: one GetAllowedImagesSettings call per run at most, none otherwise."""
        if self.allowed is None and any(found is None for found in vanished.values()):
            self.allowed = self.ports.images.allowed_images()
            self.result.allowed_images = self.allowed
        return Visibility(self.target.account, self.allowed)

    def events(self, changes: list[Change]) -> list[OutgoingEvent]:
        """The events of these changes, enriched (amiwatch.run.enrich); counted, and shown to
        the observer."""
        assert self.enricher is not None, "execute() makes the enricher"
        events = self.enricher.events(changes, self.now, self.ports.bus_name)
        self.result.reference_calls = self.enricher.reference_calls
        self.result.finding_calls = self.enricher.finding_calls
        self.result.finding_errors = self.enricher.finding_errors
        for event in events:
            self.result.changes[event.detail["change"]] += 1
            if self.ports.observer is not None:
                self.ports.observer.changed(event)
        return events

    def _observe_baseline(self, outcomes: list[ImageOutcome]) -> None:
        observer = self.ports.observer
        if observer is None:
            return
        if self.result.baseline:
            for outcome in outcomes:
                if outcome.stored is not None and not outcome.changes:
                    observer.recorded(outcome.stored.record)

    def publish(self, events: list[OutgoingEvent], last: bool) -> set[str]:
        assert self.ports.publisher is not None
        policy = self.ports.notices
        notices = plan_notices(
            events, self.target, policy, self.ports.bus_name, run=self.run_digest, last=last
        )
        report: PublishReport = self.ports.publisher.publish(events, notices)
        self.result.published += len(report.accepted)
        self.result.undelivered.update(report.failed)
        if self.run_digest is not None and not last:
            self.run_digest.delivered([e for e in events if e.event_id in report.accepted], policy)
        return report.accepted
