"""In-memory implementations of the pipeline's ports, so unit tests run the real `run_watch`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amiwatch.judge.allowed import AllowedImages
from amiwatch.messages.sns import Notice
from amiwatch.model.contract import OutgoingEvent
from amiwatch.model.records import ImageRecord, format_time
from amiwatch.model.snapshot import Snapshot, StoredImage, shard_of
from amiwatch.model.watches import Watch
from amiwatch.run.ports import FindingsLookup, Lookup, PublishReport, ReferenceLookup


@dataclass
class ListScan:
    """A complete scan of a fixed list of records."""

    records: list[ImageRecord]
    pages: int = 1
    skipped: int = 0
    missing_ids: list[str] = field(default_factory=list)
    next_token: str | None = None
    restarted: bool = False

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    def by_page(self) -> Iterator[list[ImageRecord]]:
        yield list(self.records)


@dataclass
class ListImages:
    """ImageSource: `listed` is what the watch's scan returns; `elsewhere` exists but is not
    listed (what a lookup by id finds); any other id is gone."""

    listed: list[ImageRecord]
    elsewhere: list[ImageRecord] = field(default_factory=list)
    # What uses each image: (resource type, ARN); an id absent here is used by nothing.
    used_by: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    reference_calls: int = 0
    allowed: AllowedImages = field(default_factory=lambda: AllowedImages("disabled"))
    allowed_calls: int = 0
    # Inspector's findings per image id (GetImageFindings entries); an id absent has none.
    inspector: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    findings_error: str | None = None  # every GetImageFindings call fails with this
    finding_calls: int = 0

    def scan(self, watch: Watch, start: str | None = None) -> ListScan:
        return ListScan(list(self.listed))

    def scan_ids(self, watch: Watch, image_ids: Sequence[str]) -> ListScan:
        wanted = set(image_ids)
        return ListScan([r for r in self.listed if r.image_id in wanted])

    def lookup(self, image_ids: Sequence[str]) -> Lookup:
        existing = {r.image_id: r for r in [*self.listed, *self.elsewhere]}
        return Lookup({i: existing.get(i) for i in image_ids}, calls=1 if image_ids else 0)

    def references(self, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
        calls = -(-len(image_ids) // 10)
        self.reference_calls += calls
        return ReferenceLookup({i: list(self.used_by.get(i, [])) for i in image_ids}, {}, calls)

    def findings(self, image_ids: Sequence[str], deadline: float) -> FindingsLookup:
        self.finding_calls += len(image_ids)
        if self.findings_error:
            return FindingsLookup({}, dict.fromkeys(image_ids, self.findings_error), len(image_ids))
        found = {i: list(self.inspector.get(i, [])) for i in image_ids}
        return FindingsLookup(found, {}, len(image_ids))

    def allowed_images(self) -> AllowedImages:
        self.allowed_calls += 1
        return self.allowed


class Crash(RuntimeError):
    """The run died here (a Lambda timeout, an OOM)."""


@dataclass
class MemoryStore:
    """SnapshotStore in memory: shards are really encoded and decoded, records kept as given.
    `crash_before_shards` makes the next save of shards die after the records were written."""

    shards: dict[int, bytes] = field(default_factory=dict)
    shard_count: int = 1
    stored: dict[str, StoredImage] = field(default_factory=dict)
    baselined: bool = False
    selection: str | None = None
    last_run_at: str | None = None
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    lease: str | None = None
    crash_before_shards: bool = False
    shards_read: list[list[int]] = field(default_factory=list)  # by each load_shards

    @property
    def snapshot(self) -> Snapshot:
        """What the next run will load."""
        return Snapshot.from_shards(self.shards.values(), self.shard_count)

    def acquire_lease(self, owner: str, now: datetime, seconds: int) -> bool:
        if self.lease not in (None, owner):
            return False
        self.lease = owner
        return True

    def confirm_lease(self, owner: str, now: datetime, seconds: int) -> None:
        assert self.lease == owner

    def release_lease(self, owner: str) -> None:
        if self.lease == owner:
            self.lease = None

    def load(self) -> Snapshot | None:
        if not self.baselined:
            return None
        loaded = self.snapshot
        loaded.selection, loaded.last_run_at = self.selection, self.last_run_at
        loaded.candidates = dict(self.candidates)
        return loaded

    def load_shards(self, image_ids: Iterable[str]) -> Snapshot | None:
        """Only the shards that hold these ids, as DynamoDB would give them."""
        if not self.baselined:
            return None
        wanted = sorted({shard_of(i, self.shard_count) for i in image_ids} & set(self.shards))
        self.shards_read.append(wanted)
        blobs = [self.shards[k] for k in wanted]
        return Snapshot.from_shards(blobs, self.shard_count, self.selection, self.last_run_at,
                                    self.candidates)  # fmt: skip

    def save_shards(self, shards: Mapping[int, bytes]) -> None:
        self.shards.update(shards)

    def load_parameters(self) -> dict[str, Any]:
        return {}

    def save_parameters(self, followed: Mapping[str, Any], forget: Iterable[str]) -> None:
        raise AssertionError("the unit tests run no parameters watch")

    def load_images(self, image_ids: Iterable[str]) -> dict[str, StoredImage]:
        return {i: self.stored[i] for i in image_ids if i in self.stored}

    def save_images(self, stored: Mapping[str, StoredImage], now: datetime) -> None:
        self.stored.update(stored)

    def save_snapshot(
        self,
        shards: Mapping[int, bytes],
        snapshot: Snapshot,
        owner: str,
        now: datetime,
        *,
        succeeded: bool,
        changes: Mapping[str, int] | None = None,
    ) -> None:
        if self.crash_before_shards:
            self.crash_before_shards = False
            raise Crash("the run died after writing records, before writing shards")
        self.shards.update(shards)
        self.shard_count = snapshot.shard_count
        self.candidates = dict(snapshot.candidates)
        self.baselined = True
        self.selection, self.last_run_at = snapshot.selection, format_time(now)


@dataclass
class RecordingPublisher:
    """Publisher that accepts what `deliver` says (the bus and every notice alike), and keeps
    every event it was handed."""

    deliver: Callable[[OutgoingEvent], bool] = lambda event: True
    events: list[OutgoingEvent] = field(default_factory=list)

    def publish(self, events: Sequence[OutgoingEvent], notices: Sequence[Notice]) -> PublishReport:
        self.events.extend(events)
        report = PublishReport()
        for event in events:
            if self.deliver(event):
                report.accepted.add(event.event_id)
            else:
                report.failed[event.event_id] = "eventbridge: InternalFailure: refused by the test"
        return report
