"""The ports a run talks to. `aws/` implements them against EC2, DynamoDB, EventBridge and SNS;
the unit tests implement them in memory and run the real pipeline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from amiwatch.judge.allowed import AllowedImages
from amiwatch.judge.parameters import Followed, ParameterValue
from amiwatch.messages.sns import Notice
from amiwatch.model.contract import OutgoingEvent
from amiwatch.model.records import ImageRecord
from amiwatch.model.snapshot import ScanCheckpoint, Snapshot, StoredImage
from amiwatch.model.watches import Watch


class Scan(Protocol):
    """One complete pass over a watch's images; iterating raises if a page fails for good."""

    pages: int  # DescribeImages answers read
    skipped: int  # malformed images left out
    missing_ids: list[str]  # imageIds the source does not know (filled while iterating)
    next_token: str | None  # after a page of by_page: where the scan goes on (None: the end)
    restarted: bool  # the resumed-from token had expired: the scan started over

    def __iter__(self) -> Iterator[ImageRecord]: ...

    def by_page(self) -> Iterator[list[ImageRecord]]:
        """The images, one list per page."""
        ...


@dataclass
class Lookup:
    """What a lookup by id found: each id's record now, or None when it is no longer visible."""

    found: dict[str, ImageRecord | None]
    calls: int


@dataclass
class ReferenceLookup:
    """Per image id: the (resource type, ARN) of what references it, or why that is unknown."""

    references: dict[str, list[tuple[str, str]]]
    errors: dict[str, str]  # image id -> "<code>: <message>"
    calls: int


@dataclass
class FindingsLookup:
    """Per image id: Amazon Inspector's findings (GetImageFindings entries), or why they are
    unknown."""

    findings: dict[str, list[dict[str, Any]]]
    errors: dict[str, str]  # image id -> "<code>: <message>"
    calls: int


class ImageSource(Protocol):
    """Where a target's images come from, and what uses them."""

    def scan(self, watch: Watch, start: str | None = None) -> Scan:
        """The watch's images, page by page."""
        ...

    def lookup(self, image_ids: Sequence[str]) -> Lookup:
        """These images by id, whatever the watch's criteria (existence and state)."""
        ...

    def scan_ids(self, watch: Watch, image_ids: Sequence[str]) -> Scan:
        """Those of these images that match the watch's own criteria (a targeted refresh)."""
        ...

    def references(self, image_ids: Sequence[str], deadline: float) -> ReferenceLookup:
        """What in the target's account and region uses these images; stop at `deadline`
        (time.monotonic())."""
        ...

    def findings(self, image_ids: Sequence[str], deadline: float) -> FindingsLookup:
        """Amazon Inspector's findings of these images; stop at `deadline` (errors kept)."""
        ...

    def allowed_images(self) -> AllowedImages:
        """The target account's Allowed AMIs settings in its region (errors kept, not raised)."""
        ...


@dataclass
class ParameterRead:
    """The parameters SSM returned (names it did not find are absent), and what it cost."""

    values: dict[str, ParameterValue]
    calls: int


class ParameterSource(Protocol):
    """SSM public parameters of the target's region."""

    def read(self, names: Sequence[str]) -> ParameterRead:
        """Exact names, and every parameter under the names that end in "/"."""
        ...


class SnapshotStore(Protocol):
    """What a target remembers between runs, and the lease that keeps runs apart."""

    def acquire_lease(self, owner: str, now: datetime, seconds: int) -> bool: ...

    def confirm_lease(self, owner: str, now: datetime, seconds: int) -> None: ...

    def release_lease(self, owner: str) -> None: ...

    def load(self) -> Snapshot | None:
        """The persisted snapshot, or None before the baseline."""
        ...

    def load_shards(self, image_ids: Iterable[str]) -> Snapshot | None:
        """Only the shards holding these images (a targeted refresh); None before the baseline."""
        ...

    def save_shards(self, shards: Mapping[int, bytes]) -> None:
        """Rewrite these shards only (a targeted refresh leaves meta and the others)."""
        ...

    def load_images(self, image_ids: Iterable[str]) -> dict[str, StoredImage]: ...

    def save_images(self, stored: Mapping[str, StoredImage], now: datetime) -> None: ...

    def load_parameters(self) -> dict[str, Followed]:
        """What a parameters watch remembers of each parameter."""
        ...

    def save_parameters(self, followed: Mapping[str, Followed], forget: Iterable[str]) -> None: ...

    def save_snapshot(
        self,
        shards: Mapping[int, bytes],
        snapshot: Snapshot,
        owner: str,
        now: datetime,
        *,
        succeeded: bool,
        changes: Mapping[str, int] | None = None,
    ) -> None: ...

    def load_seen(self, checkpoint: ScanCheckpoint) -> Iterator[list[str]]:
        """The ids a scan in progress has reviewed so far, part by part."""
        ...

    def save_checkpoint(
        self,
        shards: Mapping[int, bytes],
        snapshot: Snapshot,
        checkpoint: ScanCheckpoint,
        reviewed: list[str],
        owner: str,
        now: datetime,
    ) -> None:
        """Persist a scan that stops before its end (amiwatch.run.checkpoint)."""
        ...

    def forget_scan(self, checkpoint: ScanCheckpoint) -> None:
        """Delete what a completed scan kept of its progress."""
        ...


class RunObserver(Protocol):
    """Sees what a run finds as it goes (the CLI prints it): nothing is kept for it."""

    def changed(self, event: OutgoingEvent) -> None:
        """A change found (published unless the run is a dry run)."""
        ...

    def recorded(self, record: ImageRecord) -> None:
        """An image recorded silently by a baseline."""
        ...


@dataclass
class PublishReport:
    """Which events each channel accepted, and what it cost."""

    accepted: set[str] = field(default_factory=set)
    # eventId -> why it was not delivered: "<channel>: <ErrorCode>: <message>"
    failed: dict[str, str] = field(default_factory=dict)
    put_events_calls: int = 0
    publish_batch_calls: int = 0


class Publisher(Protocol):
    """Delivers events and the SNS messages (notices) that cover them."""

    def publish(self, events: Sequence[OutgoingEvent], notices: Sequence[Notice]) -> PublishReport:
        """Deliver; the report's `accepted` holds the ids delivered on every channel."""
        ...
