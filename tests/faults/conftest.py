"""The fault suite's harness: a fleet on 127.0.0.1 for EC2, moto for the rest, and a ledger.

Each test injects one fault, runs until it clears, and hands the ledger what subscribers finally
received. The ledger asserts every expected change arrived on both channels under exactly one
eventId (a repeat is allowed only with the same id) and nothing unexpected arrived, and the
session ends with a one-line summary.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from amiwatch.aws.clients import client
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.messages.sns import NoticePolicy
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.model.watches import Watch
from amiwatch.run.checkpoint import Deadline
from amiwatch.run.pipeline import WatchPorts, run_watch
from devtools.fleet import FleetState, serve
from devtools.fleet_images import CHANGE_EVERY, image_id
from devtools.local_aws import ACCOUNT, REGION, LocalAws

from .ledger import LEDGER, Key, Ledger

WATCH = parse_watch({"name": "fleet", "owners": ["self"], "deprecationWarningDays": 0})
TARGET = Target(WATCH.name, ACCOUNT, REGION)
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)

GENERATION_ONE_KINDS = ("disabled", "updated", "deprecation-scheduled")


# The smallest fleet that still proves each fault: three pages (page faults need a middle page),
# one change of each generation-1 kind, and enough changes to go through digest mode.
FLEET_SIZE, FLEET_PAGE = 300, 100
NOTICES = NoticePolicy(digest_threshold=2)


def generation_one_changes(size: int = FLEET_SIZE) -> set[Key]:
    """The changes the fleet's generation 1 makes: every 100th image, one change each, and
    Amazon Inspector finding a critical vulnerability in it (one `vulnerable` each)."""
    changed = range(0, size, CHANGE_EVERY)
    return {(image_id(i), GENERATION_ONE_KINDS[(i // CHANGE_EVERY) % 3]) for i in changed} | {
        (image_id(i), "vulnerable") for i in changed
    }


@dataclass
class Received:
    """Everything both subscribers received across the runs of one test."""

    aws: LocalAws
    bus: list[dict[str, Any]] = field(default_factory=list)
    topic: list[dict[str, Any]] = field(default_factory=list)

    def collect(self) -> None:
        self.bus += [e["detail"] for e in self.aws.bus_events()]
        # One message per change, as a machine subscriber sees them: digests are for people.
        messages = self.aws.topic_messages()
        self.topic += [m["detail"] for m in messages if m["attributes"]["delivery"] != "digest"]

    def ids(self, channel: str) -> dict[Key, set[str]]:
        grouped: dict[Key, set[str]] = defaultdict(set)
        for detail in getattr(self, channel):
            grouped[(detail["image"]["ImageId"], detail["change"])].add(detail["eventId"])
        return dict(grouped)


@dataclass
class Rig:
    """A fleet, moto resources, and a way to run the watcher with faults swapped in."""

    aws: LocalAws
    fleet: FleetState
    fleet_url: str
    received: Received
    watch: Watch = WATCH

    def ec2(self, **config: Any) -> Any:
        """EC2 on the fleet: amiwatch's retry config, or a custom botocore Config."""
        if not config:
            return client("ec2", region=REGION, endpoint_url=self.fleet_url)
        return boto3.client(
            "ec2", region_name=REGION, endpoint_url=self.fleet_url, config=Config(**config)
        )

    def store(self, ddb: Any = None) -> DynamoSnapshotStore:
        return DynamoSnapshotStore(ddb or self.aws.client("dynamodb"), self.aws.table_name, TARGET)

    def run(
        self,
        now: datetime = T0,
        *,
        owner: str = "run",
        ec2: Any = None,
        ddb: Any = None,
        events: Any = None,
        sns: Any = None,
        store: DynamoSnapshotStore | None = None,
        deadline: Deadline | None = None,
        scan_id: str | None = None,
    ):
        publisher = BusTopicPublisher(
            events or self.aws.client("events"), sns or self.aws.client("sns"), self.aws.topics()
        )
        images = Ec2Images(ec2 or self.ec2())
        ports = WatchPorts(images, self.aws.bus_name, store or self.store(ddb), publisher, NOTICES,
                           deadline=deadline)  # fmt: skip
        try:
            return run_watch(self.watch, TARGET, ports, now, owner=owner, scan_id=scan_id)
        finally:
            self.received.collect()

    def control(self, **command: Any) -> None:
        """Change what the fleet serves (generation, throttling, broken pages, extra images)."""
        request = urllib.request.Request(f"{self.fleet_url}/control", json.dumps(command).encode())
        urllib.request.urlopen(request).read()


def pages_left(pages: int) -> Deadline:
    """A deadline that falls due after this many pages (as a Lambda's time would run out)."""
    left = iter(range(pages - 1, -1, -1))  # pages still to go after each page, then none
    return Deadline(lambda: 1000.0 * next(left, 0), margin=500.0)


@pytest.fixture
def rig() -> Iterator[Rig]:
    server, state = serve(FLEET_SIZE, page_size=FLEET_PAGE)
    with mock_aws():
        aws = LocalAws.provision()
        yield Rig(aws, state, f"http://127.0.0.1:{server.server_address[1]}", Received(aws))
    server.shutdown()


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER
