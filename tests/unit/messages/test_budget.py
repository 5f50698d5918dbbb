"""What AWS refuses and moto does not: 256 KiB per EventBridge entry and per SNS message, and at
most 10 message attributes (SNS drops the message on raw delivery to SQS beyond that)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from amiwatch.judge.outcomes import make_change
from amiwatch.messages.budget import (
    ENVELOPE_BYTES,
    LIMIT_BYTES,
    eventbridge_bytes,
    fit_event,
    sns_bytes,
)
from amiwatch.messages.sns import (
    DIGESTED,
    MAX_ATTRIBUTES,
    NoticePolicy,
    plan_notices,
    topic_entry,
)
from amiwatch.model.contract import ChangeKind, build_event

from ..conftest import NOW, TARGET, record

SCHEMA = Path(__file__).parents[3] / "docs" / "schemas" / "amiwatch-event-v1.json"
EMOJI = "\U0001f680"  # 4 bytes in UTF-8, a surrogate pair (12 bytes) as a JSON \u escape
# EC2's limits: 50 tags a resource, keys of 128 characters, values of 256; descriptions of 255.
HEAVY_TAGS = [{"Key": f"{n:02d}" + EMOJI * 126, "Value": EMOJI * 256} for n in range(50)]
HEAVY = {"Tags": HEAVY_TAGS, "Description": EMOJI * 255, "Name": "golden-" + EMOJI * 120,
         "StateReason": {"Code": "Server.InternalError", "Message": EMOJI * 500}}  # fmt: skip
USAGE = {
    "checkedAt": "2026-11-27T13:00:00Z", "account": TARGET.account, "region": TARGET.region,
    "total": 900, "byType": {"ec2:Instance": 900},
    "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/i-{n:017x}" for n in range(25)],
    "truncated": True, "error": None,
}  # fmt: skip
PARAMETER = {
    "name": "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/"
    "recommended/image_id",
    "version": 7,
    "lastModified": None,
    "previousVersion": 6,
}


def heavy_change(kind: ChangeKind, **overrides):
    fields = {**HEAVY, **overrides}
    image = record("ami-0123456789abcdef0", **fields, DeprecationTime="2026-11-01T00:00:00.000Z")
    before = record("ami-0123456789abcdef0", **{**fields, "Description": EMOJI * 254})
    previous = {name: before.fields[name] for name in ("Tags", "Description", "StateReason")}
    parameter = PARAMETER if kind == ChangeKind.RECOMMENDED else None
    if kind == ChangeKind.RECOMMENDED:
        previous = {"ImageId": "ami-0fedcba9876543210", **previous}
    change = make_change(kind, image, "fields-changed", 3, "x", previous)
    return replace(change, parameter=parameter)


def heavy_event(kind: ChangeKind):
    return build_event(TARGET, heavy_change(kind), NOW, "amiwatch", usage=USAGE)


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_an_event_of_50_tags_of_4_byte_characters_fits_on_every_channel(kind):
    # At EC2's own limits, in `image` and in `previous`: sent as UTF-8 it fits as it is.
    event = fit_event(heavy_event(kind), "aws")

    assert_fits(event)
    assert event.detail["image"]["Tags"] == heavy_change(kind).image.fields["Tags"]


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_an_event_over_the_limit_is_cut_largest_parts_first_never_dropped(kind):
    # Beyond EC2's limits (the record keeps 2,048 characters a string): AWS would refuse it.
    absurd = [{"Key": f"{n:02d}" + EMOJI * 126, "Value": EMOJI * 2048} for n in range(50)]
    raw = build_event(TARGET, heavy_change(kind, Tags=absurd), NOW, "amiwatch", usage=USAGE)

    fitted = fit_event(raw, "aws")

    assert eventbridge_bytes(raw.eventbridge_entry) > LIMIT_BYTES
    assert_fits(fitted)
    assert fitted.event_id == raw.event_id == fitted.detail["eventId"]
    assert fitted.detail["truncated"][0] == "image.Tags"
    assert len(fitted.detail["image"]["Tags"]) == 50  # the tags survive, their values are cut
    assert all(v.endswith("...[truncated]") for v in fitted.detail["image"]["Tags"].values())
    assert fitted.detail["image"]["Name"] == heavy_change(kind).image.fields["Name"]


def assert_fits(event) -> None:
    entry = event.eventbridge_entry
    assert eventbridge_bytes(entry) + ENVELOPE_BYTES <= LIMIT_BYTES
    assert json.loads(entry["Detail"]) == event.detail
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(event.detail)
    policy = NoticePolicy(chat=True, chat_changes=frozenset(k.value for k in ChangeKind))
    for digest in (False, True):
        runs = plan_notices([event] * (30 if digest else 1), TARGET, policy, "amiwatch")
        for notice in runs:
            assert sns_bytes(notice.entry) <= LIMIT_BYTES


def test_an_event_within_the_limits_is_sent_as_it_is():
    small = build_event(TARGET, make_change(ChangeKind.NEW, record(), "first-seen", 1, ""),
                        NOW, "amiwatch")  # fmt: skip

    assert fit_event(small, "aws") is small
    assert small.detail["truncated"] == []


def test_the_cuts_go_largest_parts_first_and_stop_when_it_fits():
    # Only image and previous tags too long: cutting tag values is enough.
    absurd = [{"Key": f"{n:02d}", "Value": EMOJI * 2048} for n in range(50)]
    image = record(Tags=absurd)
    before = record(Tags=absurd[:49])
    change = make_change(ChangeKind.UPDATED, image, "fields-changed", 2, "x",
                         {"Tags": before.fields["Tags"]})  # fmt: skip

    fitted = fit_event(build_event(TARGET, change, NOW, "amiwatch"), "aws")

    assert fitted.detail["truncated"] == ["image.Tags", "previous.Tags"]
    assert fitted.detail["previous"] is not None
    assert fitted.detail["image"]["Description"] == "Golden image"


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_no_kind_carries_more_than_10_message_attributes(kind):
    # Every optional attribute's source present at once: a StateReason, usage, a parameter.
    entry = topic_entry(heavy_event(kind).detail, "aws", DIGESTED)

    assert len(entry["MessageAttributes"]) <= MAX_ATTRIBUTES
