"""A targeted refresh: AWS said these images changed; look at just them, now.

Cost is O(ids), never O(images in the watch): one DescribeImages call per 100 ids with the
watch's own owners and filters plus the `image-id` filter, and only the snapshot shards that hold
those ids are read and rewritten. Same lease, same snapshot, same diff and same eventIds as the
scheduled run, so a change is reported once whichever sees it first; the schedule stays the
backstop (AWS's events are best effort) and the only source for other owners' AMIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from amiwatch.judge.triage import Triage
from amiwatch.model.contract import Target
from amiwatch.model.watches import Watch
from amiwatch.run.leased import run_leased
from amiwatch.run.pipeline import WatchPorts, WatchRun
from amiwatch.run.result import WatchResult

REFRESHED, NO_BASELINE, DEFERRED = "ok", "no-baseline", "deferred"


@dataclass
class RefreshRun(WatchRun):
    """Refresh these images of the watch's target (its lease held)."""

    image_ids: tuple[str, ...] = ()

    def execute(self) -> None:
        store = self.ports.store
        snapshot = store.load_shards(self.image_ids) if store is not None else None
        if snapshot is None:
            self.result.status = NO_BASELINE  # the schedule's first run takes the baseline
            return
        if snapshot.selection not in (None, self.watch.selection_digest()):
            self.result.status = DEFERRED  # an edited watch: the scheduled run sorts it out
            return
        self.enricher = self.enricher_for(snapshot)
        triage = Triage(self.watch, self.now, snapshot.entries)
        scan = self.ports.images.scan_ids(self.watch, self.image_ids)
        for record in scan:
            triage.add(record)
            self.enricher.candidates.offer(record.fields)
        # A known image the watch's criteria no longer return: gone, or only out of the watch.
        missing = [i for i in self.image_ids if i in snapshot.entries and i not in triage.seen]
        lookup = self.ports.images.lookup(missing)
        self.result.lookup_calls = lookup.calls
        self.result.describe_pages = scan.pages
        self.result.images = len(triage.seen)
        self._review(snapshot, triage.take(), lookup.found, None)
        if store is not None and self.ports.publisher is not None:
            store.confirm_lease(self.owner, self.now, self.lease_seconds)
            store.save_shards(snapshot.apply(self.updates, grow=False))


def run_refresh(
    watch: Watch,
    target: Target,
    ports: WatchPorts,
    now: datetime,
    image_ids: Sequence[str],
    *,
    owner: str,
    lease_seconds: int = 960,
) -> WatchResult:
    """Refresh these images of one watch target; status `locked` when a run holds the lease."""
    result = WatchResult(watch.name, target.account, target.region)
    body = RefreshRun(watch, target, ports, now, result, owner, lease_seconds,
                      image_ids=tuple(dict.fromkeys(image_ids)))  # fmt: skip
    return run_leased(body)
