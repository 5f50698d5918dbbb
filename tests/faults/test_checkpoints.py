"""A scan that outlives its invocation: it checkpoints, a continuation resumes it, and a kill at
any moment loses nothing, doubles nothing and calls nothing vanished that is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.result import PublishIncomplete
from devtools.fleet_images import image_id

from ..doubles import FlakyBus, Proxy, change_is
from .conftest import FLEET_SIZE, T0, Rig, generation_one_changes, pages_left

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
GEN1 = generation_one_changes()
EVENTS_BASELINE = parse_watch({"name": "fleet", "owners": ["self"], "baseline": "events"})
ALL_NEW = {(image_id(i), "new") for i in range(FLEET_SIZE)}


def meta(rig: Rig) -> dict:
    ddb = rig.aws.client("dynamodb")
    return ddb.get_item(TableName=rig.aws.table_name, Key=rig.store()._key("meta"))["Item"]


def scan_parts(rig: Rig) -> list[str]:
    ddb = rig.aws.client("dynamodb")
    items = ddb.query(
        TableName=rig.aws.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :scan)",
        ExpressionAttributeValues={":pk": {"S": rig.store().pk}, ":scan": {"S": "scan#"}},
    )["Items"]
    return [item["sk"]["S"] for item in items]


def run_to_the_end(rig: Rig, start, pages_each: int = 1, **faults):
    """Invocations of `pages_each` pages, each continuing the last one's scan, until one ends."""
    result = rig.run(start, deadline=pages_left(pages_each), owner="first", **faults)
    results = [result]
    while result.status == "checkpointed":
        start += MINUTE
        scan_id = result.scan["scanId"]
        result = rig.run(start, deadline=pages_left(pages_each), owner=str(start), scan_id=scan_id)
        results.append(result)
    return results


def test_a_baseline_with_events_across_invocations_publishes_each_image_once(rig, ledger):
    rig.watch = EVENTS_BASELINE

    first = rig.run(T0, deadline=pages_left(1), owner="one")

    assert first.status == "checkpointed"
    assert first.scan == {"scanId": first.scan["scanId"], "startedAt": "2026-11-27T13:00:00Z",
                          "pages": 1, "images": 100, "invocations": 1, "resumed": False,
                          "checkpointed": True, "restarted": False}  # fmt: skip
    assert "lastSuccessAt" not in meta(rig) and "baselineAt" not in meta(rig)
    assert "leaseOwner" not in meta(rig)  # released: the continuation takes its own
    scan_id = first.scan["scanId"]
    second = rig.run(T0 + MINUTE, deadline=pages_left(1), owner="two", scan_id=scan_id)
    assert (second.status, second.scan["pages"], second.scan["images"]) == ("checkpointed", 2, 200)
    assert second.scan["resumed"] and second.baseline
    third = rig.run(T0 + 2 * MINUTE, deadline=pages_left(1), owner="three", scan_id=scan_id)

    assert third.status == "ok"
    assert third.scan["resumed"] and not third.scan["checkpointed"]
    assert (third.scan["invocations"], third.scan["pages"], third.scan["images"]) == (3, 3, 300)
    assert [r.published for r in (first, second, third)] == [100, 100, 100]
    ledger.settle("baseline with events in three invocations", ALL_NEW, rig.received)
    assert meta(rig)["lastSuccessAt"]["S"] == "2026-11-27T13:02:00Z"
    assert not any(name.startswith("scan") for name in meta(rig))
    assert scan_parts(rig) == []  # the completed scan's reviewed ids are deleted
    late = rig.run(T0 + 3 * MINUTE, owner="late", scan_id=scan_id)
    assert late.status == "superseded" and late.published == 0


def test_changes_found_across_invocations_arrive_once_and_nothing_is_called_vanished(rig, ledger):
    rig.run(T0)
    rig.control(generation=1)

    results = run_to_the_end(rig, T0 + timedelta(hours=1))

    assert [r.status for r in results] == ["checkpointed", "checkpointed", "ok"]
    assert sum(r.images for r in results) == FLEET_SIZE
    # Two more scans in pieces: an image missed twice would be called `left-watch`.
    again = run_to_the_end(rig, T0 + timedelta(hours=2)) + run_to_the_end(rig, T0 + 3 * HOUR)
    assert sum(r.published for r in again) == 0 and len(again) == 6
    assert [r.lookup_calls for r in again] == [0] * 6  # none was taken for vanished
    assert not any(r.silent for r in again)
    ledger.settle("changes in three invocations", GEN1, rig.received)
    rerun = rig.run(T0 + 4 * HOUR)
    assert rerun.published == 0 and rerun.scan is None


def test_an_expired_next_token_restarts_the_scan_without_republishing(rig, ledger):
    rig.run(T0)
    rig.control(generation=1)
    first = rig.run(T0 + timedelta(hours=1), deadline=pages_left(2))
    assert first.status == "checkpointed" and first.scan["pages"] == 2
    rig.control(expireTokens=True)

    resumed = rig.run(T0 + timedelta(hours=1, minutes=1), scan_id=first.scan["scanId"])

    assert resumed.status == "ok" and resumed.scan["restarted"]
    assert resumed.describe_pages == 3  # from the first page again; two were skipped
    assert resumed.images == 100
    ledger.settle("expired NextToken", GEN1, rig.received)


def test_an_edited_watch_drops_the_checkpoint_and_scans_anew(rig):
    rig.run(T0)
    first = rig.run(T0 + timedelta(hours=1), deadline=pages_left(1))
    rig.watch = parse_watch({"name": "fleet", "owners": ["self"], "includeDeprecated": False})

    again = rig.run(T0 + timedelta(hours=1, minutes=1))

    assert first.status == "checkpointed"
    assert again.status == "ok" and again.scan is None and again.images == FLEET_SIZE


# --- a kill at any moment -----------------------------------------------------------------------


def test_a_kill_at_a_page_boundary_of_a_resumed_scan_loses_nothing(rig, ledger):
    rig.run(T0)
    rig.control(generation=1)
    first = rig.run(T0 + timedelta(hours=1), deadline=pages_left(1))
    rig.control(generation=1, broken=[2])  # dies fetching the last page, after page 2's review

    with pytest.raises(ClientError, match="InternalError"):
        rig.run(T0 + timedelta(hours=1, minutes=1), scan_id=first.scan["scanId"],
                ec2=rig.ec2(retries={"max_attempts": 1, "mode": "standard"}))  # fmt: skip
    rig.control(generation=1)
    last = rig.run(T0 + timedelta(hours=1, minutes=2), scan_id=first.scan["scanId"])

    assert last.status == "ok" and last.scan["resumed"]
    ledger.settle("kill at a page boundary of a resumed scan", GEN1, rig.received)


def test_a_kill_mid_chunk_of_a_resumed_scan_loses_nothing(rig, ledger, monkeypatch):
    rig.run(T0)
    rig.control(generation=1)
    first = rig.run(T0 + timedelta(hours=1), deadline=pages_left(1))

    class DiesOnTopic(Proxy):  # the bus took the chunk's events, then the Lambda died
        def publish_batch(self, **kwargs):
            raise SystemExit("killed mid-chunk")

    monkeypatch.setattr(DynamoSnapshotStore, "release_lease", lambda self, owner: None)
    with pytest.raises(SystemExit):
        rig.run(T0 + timedelta(hours=1, minutes=1), owner="dead", scan_id=first.scan["scanId"],
                sns=DiesOnTopic(rig.aws.client("sns")))  # fmt: skip
    monkeypatch.undo()
    early = rig.run(T0 + timedelta(hours=1, minutes=2), scan_id=first.scan["scanId"])
    late = rig.run(T0 + timedelta(hours=1, minutes=20), scan_id=first.scan["scanId"])

    assert early.status == "locked"  # the dead invocation's lease, until it expires
    assert late.status == "ok"
    ledger.settle("kill mid-chunk of a resumed scan", GEN1, rig.received)


def test_a_kill_between_publish_and_persist_of_a_resumed_scan_resends_the_same_ids(
    rig, ledger, monkeypatch
):
    rig.run(T0)
    rig.control(generation=1)
    first = rig.run(T0 + timedelta(hours=1), deadline=pages_left(1))
    real_save = DynamoSnapshotStore.save_images

    def crash(self, stored, now):
        raise RuntimeError("killed before persisting")

    monkeypatch.setattr(DynamoSnapshotStore, "save_images", crash)
    with pytest.raises(RuntimeError, match="killed"):
        rig.run(T0 + timedelta(hours=1, minutes=1), scan_id=first.scan["scanId"])
    monkeypatch.setattr(DynamoSnapshotStore, "save_images", real_save)
    rig.run(T0 + timedelta(hours=1, minutes=2), scan_id=first.scan["scanId"])

    ledger.settle("kill between publish and persist of a resumed scan", GEN1, rig.received)


def test_events_undelivered_at_a_checkpoint_are_reviewed_first_on_resume(rig, ledger):
    rig.run(T0)
    rig.control(generation=1)
    bus = FlakyBus(rig.aws.client("events"), change_is("disabled"))

    with pytest.raises(PublishIncomplete):
        rig.run(T0 + timedelta(hours=1), deadline=pages_left(1), events=bus)
    resumed = rig.run(T0 + timedelta(hours=1, minutes=1), deadline=pages_left(1))

    assert resumed.status == "checkpointed"
    assert resumed.scan["invocations"] == 2
    results = run_to_the_end(rig, T0 + timedelta(hours=1, minutes=2))
    assert results[-1].status == "ok"
    ledger.settle("undelivered at a checkpoint", GEN1, rig.received)
