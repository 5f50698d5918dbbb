"""The event contract as subscribers see it, and how events are batched."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from amiwatch.aws.publish import batches
from amiwatch.messages.budget import eventbridge_bytes as eventbridge_entry_size
from amiwatch.messages.sns import EACH, MESSAGE_ATTRIBUTES, subject, topic_entry
from amiwatch.model.contract import Target, build_event
from amiwatch.model.schema import event_schema

from ..conftest import NOW, TARGET, Harness, record

AMI = "ami-0123456789abcdef0"
SCHEMA = Path(__file__).parents[3] / "docs" / "schemas" / "amiwatch-event-v1.json"


@pytest.fixture
def failed_change(harness: Harness):
    harness.run([record(AMI, State="pending", Name="golden-2026-11")])
    reason = {"Code": "Server.InternalError", "Message": "An internal error occurred"}
    [change] = harness.run(
        [record(AMI, State="failed", StateReason=reason, Name="golden-2026-11")],
        NOW + timedelta(hours=1),
    )
    return change


def test_eventbridge_entry_follows_the_contract(failed_change):
    event = build_event(TARGET, failed_change, NOW, "amiwatch")
    entry = event.eventbridge_entry
    detail = json.loads(entry["Detail"])

    assert entry["Source"] == "amiwatch"
    assert entry["DetailType"] == "AMI Failed"
    assert entry["Resources"] == [f"arn:aws:ec2:us-east-1::image/{AMI}"]
    assert entry["EventBusName"] == "amiwatch"
    assert detail["version"] == "1"
    assert detail["change"] == "failed"
    assert detail["watch"] == "golden"
    assert detail["account"] == "123456789012"
    assert detail["detectedAt"] == "2026-11-27T13:00:00Z"
    assert detail["image"]["StateReason"]["Code"] == "Server.InternalError"
    assert detail["previous"] == {"State": "pending", "StateReason": None}
    assert detail["changedFields"] == ["State", "StateReason"]
    assert detail["reason"] == "state"
    assert len(detail["eventId"]) == 32


def test_every_detail_validates_against_the_published_schema(failed_change):
    detail = build_event(TARGET, failed_change, NOW, "amiwatch").detail

    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(detail)


def test_other_partitions_get_their_own_arn(failed_change):
    china = Target("golden", "123456789012", "cn-north-1", "aws-cn")

    entry = build_event(china, failed_change, NOW, "amiwatch").eventbridge_entry

    assert entry["Resources"] == [f"arn:aws-cn:ec2:cn-north-1::image/{AMI}"]


def test_sns_entry_has_subject_attributes_and_both_message_forms(failed_change):
    sns = topic_entry(build_event(TARGET, failed_change, NOW, "amiwatch").detail, "aws", EACH)
    message = json.loads(sns["Message"])
    attributes = {k: v["StringValue"] for k, v in sns["MessageAttributes"].items()}

    assert sns["MessageStructure"] == "json"
    assert sns["Subject"] == f"[amiwatch] AMI Failed: golden-2026-11 ({AMI}) us-east-1"
    assert json.loads(message["default"])["eventId"] == sns["Id"]
    assert "Reason:     Server.InternalError: An internal error occurred" in message["email"]
    assert "{" not in message["email"].splitlines()[0]
    assert attributes == {
        "change": "failed",
        "watch": "golden",
        "region": "us-east-1",
        "account": "123456789012",
        "image_id": AMI,
        "owner_id": "123456789012",
        "state": "failed",
        "state_reason_code": "Server.InternalError",
        "delivery": "each",
    }
    # What cdk.json filter policies may name (in_use, parameter, severity only on the kinds that
    # carry them).
    OPTIONAL = ("in_use", "parameter", "severity")
    assert tuple(attributes) == tuple(a for a in MESSAGE_ATTRIBUTES if a not in OPTIONAL)


def test_subject_is_ascii_and_at_most_100_characters():
    detail = {
        "change": "updated",
        "region": "ap-southeast-2",
        "image": {"ImageId": AMI, "Name": "gölden\n" + "x" * 200},
    }

    text = subject(detail)

    assert len(text) <= 100
    assert text.isascii() and text.isprintable()
    assert text.endswith(f"({AMI}) ap-southeast-2")


def test_batches_hold_at_most_ten_entries_and_256_kb(failed_change):
    small = [build_event(TARGET, failed_change, NOW, "amiwatch")] * 25
    big = build_event(TARGET, failed_change, NOW, "amiwatch")
    big.eventbridge_entry["Detail"] = "x" * 100_000

    by_count = batches(small, lambda e: eventbridge_entry_size(e.eventbridge_entry))
    by_size = batches([big] * 5, lambda e: eventbridge_entry_size(e.eventbridge_entry))

    assert [len(b) for b in by_count] == [10, 10, 5]
    assert [len(b) for b in by_size] == [2, 2, 1]


def test_the_documented_schema_is_the_generated_one():
    assert json.loads(SCHEMA.read_text()) == event_schema()
