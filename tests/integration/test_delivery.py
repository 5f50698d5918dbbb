"""Nothing lost, nothing falsely repeated: partial failures, the lease, scans that break."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry.cli import main as cli_main
from amiwatch.messages.sns import NoticePolicy
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.run.result import PublishIncomplete
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from ..doubles import FlakyBus, FlakyTopic, SizeLimitedBus, SizeLimitedTopic, change_is
from .conftest import WATCHES, register

WATCH = parse_watch(WATCHES[0])
TARGET = Target(WATCH.name, ACCOUNT, REGION)
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def edges(
    aws: LocalAws,
    *,
    events: Any = None,
    sns: Any = None,
    ec2: Any = None,
    notices: NoticePolicy | None = None,
) -> WatchPorts:
    return WatchPorts(
        images=Ec2Images(ec2 or aws.shared_client("ec2")),
        bus_name=aws.bus_name,
        store=DynamoSnapshotStore(aws.shared_client("dynamodb"), aws.table_name, TARGET),
        publisher=BusTopicPublisher(events or aws.shared_client("events"),
                                    sns or aws.shared_client("sns"), aws.topics()),
        notices=notices or NoticePolicy(),
    )  # fmt: skip


def run(aws: LocalAws, now: datetime = T0, owner: str = "run", **faults: Any):
    return run_watch(WATCH, TARGET, edges(aws, **faults), now, owner=owner)


@pytest.fixture
def baselined(aws: LocalAws) -> dict[str, str]:
    ids = {name: register(aws, name) for name in ["golden-a", "golden-b", "golden-c"]}
    run(aws)
    return ids


def test_entries_the_bus_rejects_are_resent_next_run_with_the_same_event_id(aws, baselined):
    aws.client("ec2").disable_image(ImageId=baselined["golden-a"])
    aws.client("ec2").modify_image_attribute(
        ImageId=baselined["golden-b"], LaunchPermission={"Add": [{"Group": "all"}]}
    )
    bus = FlakyBus(aws.client("events"), change_is("disabled"))

    with pytest.raises(PublishIncomplete) as incomplete:
        run(aws, T0 + timedelta(hours=1), events=bus)
    first_bus, first_topic = aws.bus_events(), aws.topic_messages()
    retried = run(aws, T0 + timedelta(hours=2))
    second_bus = aws.bus_events()

    assert incomplete.value.result.summary()["undelivered"] == 1
    assert [e["detail"]["change"] for e in first_bus] == ["updated"]
    assert [m["detail"]["change"] for m in first_topic] == ["updated"]  # SNS only after the bus
    assert len(set(bus.failed_ids)) == 1 and len(bus.failed_ids) == 3  # tried 3 times in-run
    assert retried.summary()["changes"] == {"disabled": 1}
    assert [e["detail"]["eventId"] for e in second_bus] == bus.failed_ids[:1]
    assert run(aws, T0 + timedelta(hours=3)).summary()["changes"] == {}


def test_a_transient_bus_failure_is_retried_within_the_run(aws, baselined):
    aws.client("ec2").disable_image(ImageId=baselined["golden-a"])
    bus = FlakyBus(aws.client("events"), change_is("disabled"), calls=1)

    result = run(aws, T0 + timedelta(hours=1), events=bus)

    assert result.summary()["published"] == 1
    assert [e["detail"]["eventId"] for e in aws.bus_events()] == bus.failed_ids


def test_messages_sns_rejects_are_resent_next_run_with_the_same_event_id(aws, baselined):
    aws.client("ec2").disable_image(ImageId=baselined["golden-a"])

    with pytest.raises(PublishIncomplete):
        run(aws, T0 + timedelta(hours=1), sns=FlakyTopic(aws.client("sns"), change_is("disabled")))
    first = aws.bus_events()
    run(aws, T0 + timedelta(hours=2))
    second_bus, topic = aws.bus_events(), aws.topic_messages()

    assert [e["detail"]["eventId"] for e in second_bus] == [e["detail"]["eventId"] for e in first]
    assert [m["detail"]["eventId"] for m in topic] == [e["detail"]["eventId"] for e in first]


def test_a_run_that_finds_the_lease_taken_publishes_nothing(aws, baselined):
    aws.client("ec2").disable_image(ImageId=baselined["golden-a"])
    other = DynamoSnapshotStore(aws.client("dynamodb"), aws.table_name, TARGET)
    assert other.acquire_lease("scheduled-run", T0, 900)

    locked = run(aws, T0 + timedelta(minutes=1), owner="manual-run")
    after_expiry = run(aws, T0 + timedelta(minutes=16), owner="manual-run")

    assert locked.status == "locked"
    assert after_expiry.summary()["changes"] == {"disabled": 1}
    assert len(aws.bus_events()) == 1


def test_a_run_that_ends_in_error_releases_its_lease(aws, baselined):
    aws.client("ec2").disable_image(ImageId=baselined["golden-a"])

    with pytest.raises(PublishIncomplete):
        run(
            aws,
            T0 + timedelta(hours=1),
            events=FlakyBus(aws.client("events"), change_is("disabled")),
        )
    retry = run(aws, T0 + timedelta(hours=1, seconds=5))

    assert retry.status == "ok"
    assert retry.summary()["changes"] == {"disabled": 1}


def test_a_scan_that_fails_midway_changes_nothing_and_reports_nothing(aws, baselined):
    ec2 = aws.client("ec2")
    ec2.deregister_image(ImageId=baselined["golden-a"])
    broken = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(broken)
    stubber.add_response("describe_images", {"Images": [], "NextToken": "page-2"})
    stubber.add_client_error("describe_images", "InternalError", http_status_code=500)
    stubber.activate()

    with pytest.raises(ClientError):
        run(aws, T0 + timedelta(hours=1), ec2=broken)
    after = run(aws, T0 + timedelta(hours=2))

    assert [e["detail"]["image"]["ImageId"] for e in aws.bus_events()] == [baselined["golden-a"]]
    assert after.summary()["changes"] == {"deregistered": 1}


def test_an_unchanged_run_writes_no_image_items_and_reads_a_few_bytes_per_image(aws):
    for i in range(40):
        register(aws, f"golden-{i:02d}")
    run(aws)
    watch_aws = edges(aws)

    result = run_watch(WATCH, TARGET, watch_aws, T0 + timedelta(hours=1), owner="quiet")

    assert result.summary()["changes"] == {}
    assert watch_aws.store.stats.items_written == 0
    assert watch_aws.store.stats.snapshot_bytes_read / 40 <= 64


def test_malformed_describe_images_data_is_tolerated(aws):
    raw_images = [
        {"Name": "no-id"},
        {"ImageId": "ami-0000000000000001a"},  # no Name, no State, no Tags
        {"ImageId": "ami-0000000000000002b", "State": "quantum", "Name": "odd"},
        {"ImageId": "ami-0000000000000003c", "State": "available", "Description": "x" * 100_000},
    ]
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    stubber.add_response("describe_images", {"Images": raw_images})
    stubber.activate()
    watch = parse_watch({**WATCHES[0], "baseline": "events"})

    result = run_watch(watch, TARGET, edges(aws, ec2=ec2), T0, owner="odd")
    details = [e["detail"] for e in aws.bus_events()]

    assert result.skipped_images == 1
    assert sorted(d["image"]["ImageId"] for d in details) == [
        "ami-0000000000000001a", "ami-0000000000000002b", "ami-0000000000000003c",
    ]  # fmt: skip
    assert {d["change"] for d in details} == {"new"}


def test_cli_dry_run_prints_changes_and_writes_nothing(aws, baselined, tmp_path, capsys):
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"app": "python3 app.py", "context": {"amiwatch": {
        "schedule": "rate(1 hour)", "watches": WATCHES}}}))  # fmt: skip
    set_image(baselined["golden-c"], state="failed", state_reason={"Code": "Server.InternalError",
                                                                   "Message": "boom"})  # fmt: skip
    ddb = aws.client("dynamodb")
    before = ddb.scan(TableName=aws.table_name)["Items"]

    code = cli_main(["--config", str(config), "--dry-run", "--table", aws.table_name,
                     "--region", REGION])  # fmt: skip
    printed = capsys.readouterr().out

    assert code == 0
    assert "failed" in printed and baselined["golden-c"] in printed
    assert "Server.InternalError: boom" in printed
    assert ddb.scan(TableName=aws.table_name)["Items"] == before
    assert aws.bus_events() == [] and aws.topic_messages() == []


def test_cli_rejects_an_unknown_watch_name(aws, tmp_path, capsys):
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"amiwatch": {"watches": WATCHES}}}))

    code = cli_main(["--config", str(config), "--dry-run", "--watch", "goldne"])

    assert code == 2
    assert "--watch names unknown watches: goldne" in capsys.readouterr().err


def test_an_update_of_50_tags_of_4_byte_characters_is_delivered_once_within_aws_limits(aws):
    emoji = "\U0001f680"
    image_id = register(aws, "golden-tagged")
    tags = [{"Key": f"{n:02d}" + emoji * 126, "Value": emoji * 256} for n in range(49)]
    aws.shared_client("ec2").create_tags(Resources=[image_id], Tags=tags)
    limited = {"events": SizeLimitedBus(aws.client("events")),
               "sns": SizeLimitedTopic(aws.client("sns"))}  # fmt: skip
    run(aws, **limited)
    retagged = [{**tag, "Value": "x" + tag["Value"][1:]} for tag in tags]
    aws.shared_client("ec2").create_tags(Resources=[image_id], Tags=retagged)

    changed = run(aws, T0 + timedelta(hours=1), **limited)
    unchanged = run(aws, T0 + timedelta(hours=2), **limited)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()

    assert changed.status == "ok" and changed.summary()["changes"] == {"updated": 1}
    assert event["detail"]["previous"]["Tags"][tags[0]["Key"]] == tags[0]["Value"]
    assert event["detail"]["image"]["Tags"][tags[0]["Key"]] == retagged[0]["Value"]
    assert message["detail"]["eventId"] == event["detail"]["eventId"]
    assert unchanged.summary()["changes"] == {}
