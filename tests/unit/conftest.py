"""Builders for DescribeImages data and an in-memory run harness over the pure core."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from amiwatch.config import Watch, parse_watch
from amiwatch.diff import Change, Reselection, Triage, diff
from amiwatch.events import Target, event_id
from amiwatch.records import ImageRecord, project_image
from amiwatch.snapshot import Snapshot, StoredImage

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
    """Runs a watch repeatedly over in-memory scans, persisting what was "delivered"."""

    watch: Watch
    snapshot: Snapshot = field(default_factory=Snapshot)
    stored: dict[str, StoredImage] = field(default_factory=dict)
    baselined: bool = False

    def run(
        self,
        scan: Iterable[ImageRecord],
        now: datetime = NOW,
        deliver: Callable[[Change], bool] = lambda change: True,
        *,
        persist_shards: bool = True,
        elsewhere: Iterable[ImageRecord] = (),
        reselection: Reselection | None = None,
    ) -> list[Change]:
        """One run; `elsewhere` are images that exist but are not in the watch's scan (what a
        lookup by id finds); any other image missing from the scan is gone."""
        baseline = not self.baselined
        triage = Triage(self.watch, now, self.snapshot.entries, baseline=baseline)
        for record in scan:
            triage.add(record)
        existing = {r.image_id: r for r in elsewhere}
        to_review = triage.take()
        vanished = {i: existing.get(i) for i in triage.vanished()}
        wanted = [*to_review, *vanished]
        stored = {i: self.stored[i] for i in wanted if i in self.stored}
        outcomes = diff(
            self.watch, now, self.snapshot.entries, to_review, vanished, stored,
            baseline=baseline, reselection=reselection,
        )  # fmt: skip
        delivered = [o for o in outcomes if all(deliver(c) for c in o.changes)]
        for outcome in delivered:
            if outcome.stored is not None:
                self.stored[outcome.image_id] = outcome.stored
        if persist_shards:
            self.snapshot.apply({o.image_id: o.entry for o in delivered})
        self.baselined = True
        return [c for o in outcomes for c in o.changes]


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
