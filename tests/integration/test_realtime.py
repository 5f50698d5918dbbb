"""Near-real-time, end to end in moto: AWS's own AMI events go through EventBridge rules with the
synthesized stack's patterns into the refresh queue; the handler runs on what the queue holds,
as the event source mapping would hand it over; the subscribers' queues say what people and
automation receive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry.handler import handler
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from ..doubles import eventbridge_like_aws
from .conftest import FakeLambdaContext, register
from .mapped_queue import MappedQueue

WATCHES = [
    {"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]}},
    {"name": "al2023", "owners": ["self"], "filters": {"name": ["al2023-ami-*"]},
     "refreshOn": [f"arn:aws:sns:{REGION}:{ACCOUNT}:amazon-linux-2023-ami-updates"]},
]  # fmt: skip


def refresh_rule_patterns(synthesized: Any) -> list[dict[str, Any]]:
    """The patterns of the stack's rules on the default bus that target the refresh queue."""
    queue_id, _ = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    return [
        rule["Properties"]["EventPattern"]
        for rule in synthesized.resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventBusName", "default") == "default"
        and rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]


class RefreshQueue(MappedQueue):
    """The refresh queue in moto, fed by the stack's rules on the default bus."""

    def __init__(self, aws: LocalAws, patterns: list[dict[str, Any]], visibility: int) -> None:
        super().__init__(aws, "refresh", visibility)
        self.events = aws.shared_client("events")
        for n, pattern in enumerate(patterns):
            self.events.put_rule(Name=f"refresh-{n}", EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=f"refresh-{n}", Targets=[{"Id": "q", "Arn": self.arn}])

    def emit(self, detail_type: str, detail: dict[str, Any]) -> None:
        """An event of aws.ec2 on the default bus (AWS's own, as EC2 or CloudTrail sends it)."""
        entry = {"Source": "aws.ec2", "DetailType": detail_type, "Detail": json.dumps(detail)}
        assert self.events.put_events(Entries=[entry])["FailedEntryCount"] == 0


@pytest.fixture
def queue(aws, lambda_env, synthesized, monkeypatch) -> Iterator[RefreshQueue]:
    lambda_env.write_text(json.dumps({"watches": WATCHES}))
    eventbridge_like_aws(monkeypatch)
    _, stack_queue = synthesized.one("AWS::SQS::Queue", "WatcherRefreshQueue")
    visibility = stack_queue["Properties"]["VisibilityTimeout"]  # 6 x the function's timeout
    yield RefreshQueue(aws, refresh_rule_patterns(synthesized), visibility)


@pytest.fixture
def golden(aws: LocalAws, queue: RefreshQueue) -> dict[str, str]:
    ids = {name: register(aws, name) for name in ("golden-a", "golden-b")}
    handler({}, FakeLambdaContext())  # the scheduled run: a silent baseline
    return ids


def state_change(image_id: str, state: str) -> dict[str, Any]:
    return {"RequestId": "r-1", "ImageId": image_id, "State": state, "ErrorMessage": ""}


def api_call(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": name,
            "awsRegion": REGION, "requestParameters": parameters}  # fmt: skip


def test_a_state_change_reaches_the_subscribers_and_the_next_scheduled_run_stays_silent(
    aws, queue, golden
):
    aws.shared_client("ec2").deregister_image(ImageId=golden["golden-a"])
    queue.emit("EC2 AMI State Change", state_change(golden["golden-a"], "deregistered"))

    response = queue.deliver()
    [event] = aws.bus_events()
    [message] = aws.topic_messages()
    scheduled = handler({}, FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    assert event["detail-type"] == "AMI Deregistered"
    assert event["detail"]["image"]["ImageId"] == golden["golden-a"]
    assert message["attributes"]["change"] == "deregistered"
    assert message["detail"]["eventId"] == event["detail"]["eventId"]
    assert [w["changes"] for w in scheduled["watches"]] == [{}, {}]
    assert aws.bus_events() == [] and aws.topic_messages() == []


def test_a_new_image_of_the_pipeline_is_reported_once_and_the_schedule_agrees(aws, queue, golden):
    fresh = register(aws, "golden-c")
    queue.emit("EC2 AMI State Change", state_change(fresh, "available"))

    queue.deliver()
    [event] = aws.bus_events()
    handler({}, FakeLambdaContext())

    assert event["detail-type"] == "AMI New" and event["detail"]["image"]["ImageId"] == fresh
    assert aws.bus_events() == []


def test_cloudtrail_calls_refresh_the_images_they_name(aws, queue, golden):
    ec2 = aws.shared_client("ec2")
    ec2.create_tags(Resources=[golden["golden-b"]], Tags=[{"Key": "team", "Value": "data"}])
    tagged = {"resourcesSet": {"items": [{"resourceId": "i-0123456789abcdef0"},
                                         {"resourceId": golden["golden-b"]}]},
              "tagSet": {"items": [{"key": "team", "value": "data"}]}}  # fmt: skip
    queue.emit("AWS API Call via CloudTrail", api_call("CreateTags", tagged))
    set_image(golden["golden-a"], deprecation_time="2026-01-01T00:00:00.000Z")
    deprecation = {"imageId": golden["golden-a"], "deprecateAt": "2026-01-01T00:00:00Z"}
    queue.emit("AWS API Call via CloudTrail", api_call("EnableImageDeprecation", deprecation))

    queue.deliver()
    changes = {e["detail"]["image"]["ImageId"]: e["detail-type"] for e in aws.bus_events()}

    assert changes == {golden["golden-b"]: "AMI Left Watch", golden["golden-a"]: "AMI Deprecated"}


def test_a_refresh_while_the_scheduled_run_holds_the_lease_is_retried_not_dropped(
    aws, queue, golden
):
    aws.shared_client("ec2").disable_image(ImageId=golden["golden-a"])
    queue.emit("EC2 AMI State Change", state_change(golden["golden-a"], "disabled"))
    store = DynamoSnapshotStore(aws.shared_client("dynamodb"), aws.table_name,
                                Target("golden", ACCOUNT, REGION))  # fmt: skip
    assert store.acquire_lease("the-scheduled-run", datetime.now(UTC), 900)

    held = queue.deliver()
    published_meanwhile = aws.bus_events()
    retry_after = queue.visible()
    store.release_lease("the-scheduled-run")
    [postponed] = queue.postponed_ms()
    queue.make_visible()
    again = queue.deliver()
    [event] = aws.bus_events()

    assert len(held["batchItemFailures"]) == 1
    assert published_meanwhile == [] and retry_after == 0  # postponed, not at once
    assert 0 < postponed <= 30_000  # 30 s, not the queue's visibility timeout of 90 minutes
    assert again == {"batchItemFailures": []}
    assert event["detail-type"] == "AMI Disabled"
    assert queue.visible() == 0


def test_a_malformed_or_unwatched_event_does_not_block_its_batch(aws, queue, golden):
    aws.shared_client("ec2").disable_image(ImageId=golden["golden-b"])
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody="{not an event")
    queue.emit("EC2 AMI State Change", {"RequestId": "r-2", "State": "available"})  # no ImageId
    queue.emit("EC2 AMI State Change", state_change(golden["golden-b"], "disabled"))

    response = queue.deliver()
    [event] = aws.bus_events()

    assert response == {"batchItemFailures": []}
    assert event["detail-type"] == "AMI Disabled"
    assert queue.visible() == 0


def test_a_vendor_release_notice_runs_the_watch_s_full_scan_at_once(aws, queue, golden):
    sns = aws.shared_client("sns")
    topic = sns.create_topic(Name="amazon-linux-2023-ami-updates")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    register(aws, "al2023-ami-2023.9.20261130.0-kernel-6.1-x86_64", team="amazon")
    handler({"watches": ["al2023"]}, FakeLambdaContext())  # a scheduled run finds it
    aws.bus_events()
    newer = register(aws, "al2023-ami-2023.9.20261201.0-kernel-6.1-x86_64", team="amazon")
    sns.publish(TopicArn=topic, Message=json.dumps({"v1": {"Message": "A new AL2023 AMI"}}))

    response = queue.deliver()
    events = aws.bus_events()

    assert response == {"batchItemFailures": []}
    assert [(e["detail"]["watch"], e["detail"]["image"]["ImageId"]) for e in events] == [
        ("al2023", newer)
    ]


def test_the_intake_bus_carries_the_same_rules_as_the_default_bus(synthesized):
    bus_id, _ = synthesized.one("AWS::Events::EventBus", "WatcherIntakeBus")
    intake = [
        rule["Properties"]["EventPattern"]
        for rule in synthesized.resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventBusName") == {"Ref": bus_id}
    ]
    forwarded = [
        rule["Properties"]["EventPattern"]
        for rule in synthesized.member_events_template["Resources"].values()
        if rule["Type"] == "AWS::Events::Rule"
    ]

    assert sorted(map(json.dumps, intake)) == sorted(map(json.dumps, refresh_rule_patterns(
        synthesized))) == sorted(map(json.dumps, forwarded))  # fmt: skip


def test_a_refresh_keeps_each_call_within_ec2_s_200_filter_values(aws):
    ids = [register(aws, f"golden-{n}") for n in range(3)]
    names = [f"golden-{n}" for n in range(150)]  # 150 values of the watch's own
    watch = parse_watch({"name": "golden", "owners": ["self"], "filters": {"name": names}})
    ec2 = aws.client("ec2")
    sizes: list[int] = []
    count = lambda params, **_: sizes.append(sum(len(f["Values"]) for f in params["Filters"]))  # noqa: E731
    ec2.meta.events.register("provide-client-params.ec2.DescribeImages", count)
    asked = [*ids, *(f"ami-{n:017x}" for n in range(97))]  # 100 ids, 97 of them unknown

    found = list(Ec2Images(ec2).scan_ids(watch, asked))

    assert sorted(r.image_id for r in found) == sorted(ids)
    assert len(sizes) == 2 and max(sizes) <= 200
