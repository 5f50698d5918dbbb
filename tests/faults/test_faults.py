"""One fault per test; run until it clears; everything arrives once, nothing false arrives."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from amiwatch.aws.lease import LeaseLost
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.model.watch_config import parse_watch
from amiwatch.run import pipeline
from amiwatch.run.result import PublishIncomplete

from ..doubles import FlakyBus, FlakyTopic, Proxy, change_is
from .conftest import T0, Rig, generation_one_changes

HOUR = timedelta(hours=1)
GEN1 = generation_one_changes()


is_disabled = change_is("disabled")


def baseline_then_change(rig: Rig) -> None:
    rig.run(T0)
    rig.control(generation=1)


# --- DescribeImages ---------------------------------------------------------------------------


def test_throttled_pages_are_retried_by_botocore(rig, ledger):
    rig.control(throttle={"1": 2, "2": 1})
    rig.run(T0)
    rig.control(generation=1, throttle={"0": 1, "2": 2})

    result = rig.run(T0 + HOUR)

    assert result.describe_pages == 3
    assert rig.fleet.requests == 3 + 3 + 3 + 3  # 6 pages, 6 throttled answers retried
    ledger.settle("throttled pages", GEN1, rig.received)


def test_a_page_failing_for_good_fails_the_run_and_nothing_is_called_vanished(rig, ledger):
    baseline_then_change(rig)
    rig.control(generation=1, broken=[1])
    meta_before = rig.aws.client("dynamodb").get_item(
        TableName=rig.aws.table_name, Key=rig.store()._key("meta")
    )["Item"]

    with pytest.raises(ClientError, match="InternalError"):
        rig.run(T0 + HOUR, ec2=rig.ec2(retries={"max_attempts": 2, "mode": "standard"}))
    meta_after = rig.aws.client("dynamodb").get_item(
        TableName=rig.aws.table_name, Key=rig.store()._key("meta")
    )["Item"]
    assert meta_after == meta_before
    assert rig.received.bus == []
    rig.control(generation=1)
    rig.run(T0 + 2 * HOUR)

    ledger.settle("page failing for good", GEN1, rig.received)


# --- publishing -------------------------------------------------------------------------------


def test_putevents_partial_failure_is_retried_then_delivered_next_run(rig, ledger):
    baseline_then_change(rig)
    bus = FlakyBus(rig.aws.client("events"), is_disabled)

    with pytest.raises(PublishIncomplete):
        rig.run(T0 + HOUR, events=bus)
    rig.run(T0 + 2 * HOUR)
    assert rig.run(T0 + 3 * HOUR).summary()["changes"] == {}

    ledger.settle("PutEvents partial failure", GEN1, rig.received)


def test_putevents_failure_that_clears_within_the_run_needs_no_second_run(rig, ledger):
    baseline_then_change(rig)

    result = rig.run(T0 + HOUR, events=FlakyBus(rig.aws.client("events"), is_disabled, calls=1))

    assert result.status == "ok"
    ledger.settle("PutEvents transient failure", GEN1, rig.received)


def test_publishbatch_partial_failure_is_retried_then_delivered_next_run(rig, ledger):
    baseline_then_change(rig)

    with pytest.raises(PublishIncomplete):
        rig.run(T0 + HOUR, sns=FlakyTopic(rig.aws.client("sns"), is_disabled))
    rig.run(T0 + 2 * HOUR)

    # The bus got the disabled events twice, under the same eventIds: allowed, and counted once.
    # An image's snapshot does not move past an unsent change: its other change is resent too.
    disabled = {image for image, change in GEN1 if change == "disabled"}
    assert len(rig.received.bus) == len(GEN1) + len([k for k in GEN1 if k[0] in disabled])
    ledger.settle("PublishBatch partial failure", GEN1, rig.received)


# --- crashes and the lease --------------------------------------------------------------------


def test_crash_after_publishing_before_persisting_resends_the_same_ids(rig, ledger, monkeypatch):
    baseline_then_change(rig)
    real_save = DynamoSnapshotStore.save_images

    def crash(self, stored, now):
        raise RuntimeError("injected crash before persisting")

    monkeypatch.setattr(DynamoSnapshotStore, "save_images", crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        rig.run(T0 + HOUR)
    monkeypatch.setattr(DynamoSnapshotStore, "save_images", real_save)
    rig.run(T0 + HOUR + timedelta(seconds=30))  # the lease was released on the way out

    assert len(rig.received.bus) == 2 * len(GEN1)
    ledger.settle("crash before persisting", GEN1, rig.received)


def test_a_run_that_dies_outright_holds_its_lease_until_expiry(rig, ledger, monkeypatch):
    baseline_then_change(rig)
    monkeypatch.setattr(
        DynamoSnapshotStore, "release_lease", lambda self, owner: None
    )  # no finally
    monkeypatch.setattr(
        DynamoSnapshotStore,
        "save_images",
        lambda self, stored, now: (_ for _ in ()).throw(SystemExit("killed")),
    )
    with pytest.raises(SystemExit):
        rig.run(T0 + HOUR, owner="dead")
    monkeypatch.undo()

    early = rig.run(T0 + HOUR + timedelta(minutes=5), owner="next")
    late = rig.run(T0 + HOUR + timedelta(minutes=17), owner="later")

    assert early.status == "locked"
    assert late.status == "ok"
    ledger.settle("run killed holding the lease", GEN1, rig.received)


def test_dynamodb_throttling_during_persist_is_retried(rig, ledger):
    # The injected error reaches the client after moto applied the write, like a response lost
    # on the way back: the hard case, since botocore's retry repeats a write that already won.
    baseline_then_change(rig)
    ddb = rig.aws.client("dynamodb")
    throttled = {"PutItem": 2, "UpdateItem": 1, "BatchWriteItem": 2}

    def throttle(request, event_name, **kwargs):
        op = event_name.rsplit(".", 1)[-1]  # before-send.dynamodb.<Operation>
        if throttled.get(op, 0) > 0:
            throttled[op] -= 1
            body = json.dumps(
                {"__type": "ProvisionedThroughputExceededException", "message": "injected"}
            ).encode()
            return AWSResponse(request.url, 400, {}, _Raw(body))
        return None

    ddb.meta.events.register_first("before-send.dynamodb", throttle)
    unprocessed = UnprocessedOnce(ddb)
    result = rig.run(T0 + HOUR, ddb=unprocessed)

    assert result.status == "ok"
    assert throttled == {"PutItem": 0, "UpdateItem": 0, "BatchWriteItem": 0}
    assert unprocessed.handed_back > 0
    assert rig.run(T0 + 2 * HOUR).summary()["changes"] == {}
    ledger.settle("DynamoDB throttling", GEN1, rig.received)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body

    def read(self, *args):
        return self.body


class UnprocessedOnce(Proxy):
    """BatchWriteItem that hands back half of the first request as UnprocessedItems."""

    handed_back = 0

    def batch_write_item(self, RequestItems):
        if self.handed_back:
            return self.real.batch_write_item(RequestItems=RequestItems)
        [(table, requests)] = RequestItems.items()
        keep, back = requests[: len(requests) // 2], requests[len(requests) // 2 :]
        self.handed_back = len(back)
        self.real.batch_write_item(RequestItems={table: keep})
        return {"UnprocessedItems": {table: back}}


def test_a_lease_taken_over_during_the_run_stops_persisting(rig, ledger):
    baseline_then_change(rig)
    thief = rig.store()
    ec2 = rig.ec2()

    def steal_during_scan(**kwargs):
        # Our lease "expired" mid-run and another run took it.
        thief.ddb.update_item(
            TableName=thief.table,
            Key=thief._key("meta"),
            UpdateExpression="SET leaseOwner = :o",
            ExpressionAttributeValues={":o": {"S": "thief"}},
        )

    ec2.meta.events.register("after-call.ec2.DescribeImages", steal_during_scan)
    with pytest.raises(LeaseLost):
        rig.run(T0 + HOUR, ec2=ec2, owner="slow")
    thief.release_lease("thief")
    rig.run(T0 + 2 * HOUR)

    ledger.settle("lease taken over (conditional check failed)", GEN1, rig.received)


def test_two_overlapping_runs_of_one_watch_publish_once(rig, ledger):
    baseline_then_change(rig)
    ec2 = rig.ec2()
    inner = []

    def second_run_starts(**kwargs):
        if not inner:
            inner.append(rig.run(T0 + HOUR, owner="manual"))

    ec2.meta.events.register("before-call.ec2.DescribeImages", second_run_starts)
    outer = rig.run(T0 + HOUR, ec2=ec2, owner="scheduled")

    assert inner[0].status == "locked"
    assert outer.status == "ok"
    ledger.settle("overlapping runs", GEN1, rig.received)


# --- data -------------------------------------------------------------------------------------


def test_malformed_images_cause_no_crash_and_sensible_events(rig, ledger):
    odd = [
        {"Name": "no-image-id", "State": "available"},
        {"ImageId": "ami-00000000000ff0001", "State": "available"},  # no Name, no Tags
        {"ImageId": "ami-00000000000ff0002", "Name": "no-state"},
        {"ImageId": "ami-00000000000ff0003", "Name": "odd-state", "State": "quantum"},
        {
            "ImageId": "ami-00000000000ff0004",
            "Name": "huge",
            "State": "available",
            "Description": "x" * 300_000,
        },
    ]
    rig.control(extra=odd)
    baseline = rig.run(T0)
    odd[1]["Tags"] = [{"Key": "team", "Value": "platform"}]
    odd[2]["State"] = "failed"
    odd[2]["StateReason"] = {"Code": "Client.InvalidSnapshot.NotFound", "Message": "gone"}
    odd[3]["State"] = "available"
    odd[4]["Description"] = "y" * 300_000
    rig.control(extra=odd)

    changed = rig.run(T0 + HOUR)

    assert baseline.skipped_images == changed.skipped_images == 1
    expected = {
        ("ami-00000000000ff0001", "updated"),
        ("ami-00000000000ff0002", "failed"),
        ("ami-00000000000ff0003", "available"),
        ("ami-00000000000ff0004", "updated"),
    }
    huge = next(d for d in rig.received.bus if d["image"]["ImageId"].endswith("ff0004"))
    assert huge["image"]["Description"].endswith("...[truncated]")
    ledger.settle("malformed DescribeImages data", expected, rig.received)


def test_deprecated_and_disabled_images_are_never_called_deregistered(rig, ledger):
    rig.run(T0)
    deprecate = {"ImageId": "ami-00000000000dd0001", "Name": "old", "State": "available"}
    rig.control(extra=[deprecate])
    rig.run(T0 + HOUR)
    rig.control(generation=1, extra=[{**deprecate, "DeprecationTime": "2026-01-01T00:00:00.000Z"}])

    rig.run(T0 + 2 * HOUR)
    rig.run(T0 + 3 * HOUR)

    kinds = {detail["change"] for detail in rig.received.bus}
    assert "deregistered" not in kinds
    expected = GEN1 | {("ami-00000000000dd0001", "new"), ("ami-00000000000dd0001", "deprecated")}
    ledger.settle("deprecated/disabled kept in scope", expected, rig.received)


def test_without_include_disabled_a_disabled_image_leaves_the_watch_and_is_not_deregistered(rig):
    # A watch that excludes disabled images no longer lists them: the lookup by id finds them,
    # so they are reported as having left the watch (State changed), never as deregistered.
    rig.watch = parse_watch({"name": "fleet", "owners": ["self"], "includeDisabled": False})
    baseline_then_change(rig)

    rig.run(T0 + HOUR)

    left = [d for d in rig.received.bus if d["change"] == "left-watch"]
    kinds = {d["change"] for d in rig.received.bus}
    assert "deregistered" not in kinds and "disabled" not in kinds
    assert len(left) == len([k for k in GEN1 if k[1] == "disabled"])
    assert all("State" in d["changedFields"] for d in left)
    assert all(d["previous"]["State"] == "available" for d in left)


def test_reviews_larger_than_a_chunk_are_delivered_chunk_by_chunk(rig, ledger, monkeypatch):
    monkeypatch.setattr(pipeline, "REVIEW_CHUNK", 7)
    rig.watch = parse_watch({"name": "fleet", "owners": ["self"], "baseline": "events"})
    rig.fleet.size = 30  # 5 chunks; each chunk with a failure pays the publisher's backoff
    bus = FlakyBus(rig.aws.client("events"), lambda d: d["image"]["ImageId"].endswith("0"))

    with pytest.raises(PublishIncomplete):
        rig.run(T0, events=bus)  # baseline with events, some never accepted
    rig.run(T0 + HOUR)

    expected = {(f"ami-{i:017x}", "new") for i in range(30)}
    ledger.settle("chunked baseline with failures", expected, rig.received)
