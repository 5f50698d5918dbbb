"""Builders for DescribeImages data, and a harness that runs the real pipeline in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from amiwatch.judge.allowed import AllowedImages
from amiwatch.model.contract import Change, OutgoingEvent, Target, event_id
from amiwatch.model.records import ImageRecord, project_image
from amiwatch.model.snapshot import Snapshot, StoredImage
from amiwatch.model.watch_config import parse_watch
from amiwatch.model.watches import Watch
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.run.refresh import run_refresh
from amiwatch.run.result import PublishIncomplete, WatchResult

from .fakes import Crash, ListImages, MemoryStore, RecordingPublisher

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
TARGET = Target("golden", "123456789012", "us-east-1")


def describe_image(image_id: str = "ami-0123456789abcdef0", **overrides: Any) -> dict[str, Any]:
    """A DescribeImages `Image` as boto3 returns it."""
    image = {
        "ImageId": image_id,
        "Name": f"golden-{image_id[-4:]}",
        "Description": "Golden image",
        "OwnerId": "123456789012",
        "State": "available",
        "CreationDate": "2026-11-01T10:00:00.000Z",
        "Public": False,
        "Architecture": "x86_64",
        "ImageType": "machine",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "RootDeviceType": "ebs",
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "BootMode": "uefi-preferred",
        "ImdsSupport": "v2.0",
        "Tags": [{"Key": "team", "Value": "platform"}],
    }
    image.update(overrides)
    return image


def record(image_id: str = "ami-0123456789abcdef0", **overrides: Any) -> ImageRecord:
    projected = project_image(describe_image(image_id, **overrides))
    assert projected is not None
    return projected


@dataclass
class Harness:
    """Runs the real pipeline (`run_watch`) repeatedly over in-memory ports.

    `harness.snapshot` and `harness.stored` are what the store persisted; `watch` may be edited
    between runs (an edit of its selection is then detected as in production).
    """

    watch: Watch
    store: MemoryStore = field(default_factory=MemoryStore)
    last_images: ListImages | None = None  # the last run's image source (its call counts)
    last_result: WatchResult | None = None
    last_events: list[OutgoingEvent] = field(default_factory=list)  # what the last run sent

    @property
    def snapshot(self) -> Snapshot:
        return self.store.snapshot

    @property
    def stored(self) -> dict[str, StoredImage]:
        return self.store.stored

    def run(
        self,
        scan: Iterable[ImageRecord],
        now: datetime = NOW,
        deliver: Callable[[Change], bool] = lambda change: True,
        *,
        persist_shards: bool = True,
        elsewhere: Iterable[ImageRecord] = (),
        allowed: AllowedImages | None = None,
        inspector: dict[str, list[dict[str, Any]]] | None = None,
        findings_error: str | None = None,
        used_by: dict[str, list[tuple[str, str]]] | None = None,
    ) -> list[Change]:
        """One run; returns every change it found (delivered or not). `elsewhere` are images
        that exist but are not in the watch's scan (what a lookup by id finds); any other image
        missing from the scan is gone. `persist_shards=False`: the run dies after writing the
        records of what it delivered, before the shards (a crash in between). `allowed`: the
        target's Allowed AMIs settings (disabled by default)."""
        publisher = RecordingPublisher(lambda event: deliver(event.change))
        images = ListImages(
            list(scan),
            list(elsewhere),
            used_by=dict(used_by or {}),
            inspector=dict(inspector or {}),
            findings_error=findings_error,
        )
        if allowed is not None:
            images.allowed = allowed
        self.last_images = images
        ports = WatchPorts(images, "amiwatch", self.store, publisher)
        self.store.crash_before_shards = not persist_shards
        # What was delivered is persisted; the rest is found again next run.
        try:
            self.last_result = run_watch(self.watch, TARGET, ports, now,
                                         owner=f"run-{now.isoformat()}")  # fmt: skip
        except PublishIncomplete as exc:
            self.last_result = exc.result
        except Crash:
            self.last_result = None
        self.last_events = list(publisher.events)
        return [event.change for event in publisher.events]

    def refresh(
        self,
        image_ids: Iterable[str],
        scan: Iterable[ImageRecord],
        now: datetime = NOW,
        deliver: Callable[[Change], bool] = lambda change: True,
        *,
        elsewhere: Iterable[ImageRecord] = (),
    ) -> tuple[list[Change], WatchResult]:
        """A targeted refresh of these ids (AWS said they changed); `scan` is what the watch's
        criteria return for them, `elsewhere` what only a lookup by id finds."""
        publisher = RecordingPublisher(lambda event: deliver(event.change))
        ports = WatchPorts(
            ListImages(list(scan), list(elsewhere)), "amiwatch", self.store, publisher
        )
        owner = f"refresh-{now.isoformat()}"
        try:
            result = run_refresh(self.watch, TARGET, ports, now, list(image_ids), owner=owner)
        except PublishIncomplete as exc:
            result = exc.result
        return [event.change for event in publisher.events], result


def kinds(changes: Iterable[Change]) -> list[str]:
    return [c.kind.value for c in changes]


def ids(changes: Iterable[Change]) -> list[str]:
    return [event_id(TARGET, c) for c in changes]


@pytest.fixture
def watch() -> Watch:
    return parse_watch({"name": "golden", "owners": ["self"], "deprecationWarningDays": 14})


@pytest.fixture
def harness(watch: Watch) -> Harness:
    return Harness(watch)
