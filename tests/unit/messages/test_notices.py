"""What people receive: chat notifications, emails and digests, rendered from real changes."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from amiwatch.judge.parameters import Followed, ParameterValue, recommended
from amiwatch.messages.chat import (
    MAX_DESCRIPTION,
    MAX_KEYWORD,
    MAX_TITLE,
    REASON_CODES,
    change_notification,
    wants_chat,
)
from amiwatch.messages.facts import console_url
from amiwatch.messages.mail import change_email
from amiwatch.messages.sns import CHAT, CHAT_SELECTORS, TOPIC, NoticePolicy, plan_notices
from amiwatch.messages.subscriptions import email_filter_policy
from amiwatch.model.contract import ChangeKind, Target, build_event

from ..conftest import NOW, TARGET, Harness, record

LATER = NOW + timedelta(hours=1)
SEVERITY_WORDS = {"CRITICAL", "WARNING", "NOTICE", "INFO"}
REQUIRED = {"version", "source", "content"}


CRITICAL = {"HighestFindingSeverityLabel": "critical", "FindingScanDate": "2026-11-27T12:00:00Z",
            "CriticalFixAvailableSince": "2026-11-20T00:00:00Z"}  # fmt: skip


def ami(n: int) -> str:
    return f"ami-{n:017x}"


@pytest.fixture
def every_kind(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    """One run whose changes cover every change kind, as event details."""
    soon = (NOW + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    vendor = {"OwnerId": "999999999999"}
    harness.run(
        [record(ami(i)) for i in (1, 2, 3, 4, 5, 6, 9)]
        + [
            record(ami(7), State="pending"),
            record(ami(11), **vendor),
            record(ami(12), **vendor, ImageAllowed=True),
            record(ami(13)),
        ]
    )
    changes = harness.run(
        [
            record(
                ami(1),
                State="failed",
                StateReason={
                    "Code": "Client.InvalidSnapshot.NotFound",
                    "Message": "snap-1 <gone> & more",
                },
            ),
            record(ami(2), State="disabled"),
            record(ami(4), DeprecationTime=soon),
            record(ami(5), DeprecationTime="2026-01-01T00:00:00.000Z"),
            record(ami(6), Public=True),
            record(ami(7)),
            record(ami(8), Name="brand-new"),
            record(ami(12), **vendor, ImageAllowed=False),  # Allowed AMIs in audit mode
            record(ami(13), ScanResults=CRITICAL),  # Inspector found a critical vulnerability
        ],
        LATER,
        # ami 3 vanished: deregistered (the target's own); ami 11 vanished: unavailable (a
        # vendor's); ami 9 still exists, retagged out of the watch
        elsewhere=[record(ami(9), Tags=[{"Key": "team", "Value": "data"}])],
    )  # fmt: skip
    details: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        detail = build_event(TARGET, change, LATER, "amiwatch").detail
        details.setdefault(detail["change"], []).append(detail)
    # A parameters watch's change, from its (pure) builder: the EKS recommended AMI moved.
    eks = (
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"
    )
    moved = recommended(
        ParameterValue(eks, 42, ami(10), "2026-11-27T12:00:00Z"), record(ami(10), Name="eks-new"),
        Followed(eks, 41, ami(9), "eks-old", "2026-11-01T00:00:00Z"),
    )  # fmt: skip
    details["recommended"] = [build_event(TARGET, moved, LATER, "amiwatch").detail]
    assert set(details) == {k.value for k in ChangeKind}
    return details


def all_details(every_kind: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [d for group in every_kind.values() for d in group]


def test_every_change_renders_to_the_documented_chat_format(every_kind):
    for detail in all_details(every_kind):
        note = change_notification(detail, "aws")
        content, metadata = note["content"], note["metadata"]

        assert set(note) >= REQUIRED and note["version"] == "1.0" and note["source"] == "custom"
        assert content["textType"] == "client-markdown"
        assert 0 < len(content["title"]) <= MAX_TITLE
        assert 0 < len(content["description"]) <= MAX_DESCRIPTION
        assert content["title"].split(":")[0] in SEVERITY_WORDS
        assert content["title"].isascii()  # severity is a word, never an emoji
        assert all(len(k) <= MAX_KEYWORD for k in content["keywords"])
        assert "*Image:* " in content["description"]
        assert "|Open in the EC2 console>" in content["description"]
        assert metadata["threadId"].endswith(detail["image"]["ImageId"])
        assert metadata["relatedResources"] == [
            f"arn:aws:ec2:us-east-1::image/{detail['image']['ImageId']}"
        ]
        assert metadata["additionalContext"]["eventId"] == detail["eventId"] == note["id"]
        assert all(isinstance(v, str) for v in metadata["additionalContext"].values())


def test_failed_notification_explains_the_reason_code_and_escapes_markdown(every_kind):
    [failed] = every_kind["failed"]

    note = change_notification(failed, "aws")

    assert note["content"]["title"].startswith("CRITICAL: AMI failed: ")
    assert note["content"]["nextSteps"] == [
        f"`Client.InvalidSnapshot.NotFound`: {REASON_CODES['Client.InvalidSnapshot.NotFound']}"
    ]
    assert "snap-1 &lt;gone&gt; &amp; more" in note["content"]["description"]
    assert "<gone>" not in note["content"]["description"]


def test_an_image_made_public_is_critical_with_before_and_after(every_kind):
    [public] = [d for d in every_kind["updated"] if "Public" in d["changedFields"]]

    note = change_notification(public, "aws")

    assert note["content"]["title"].startswith("CRITICAL: AMI updated: ")
    assert "*Changed:* Public: false → true" in note["content"]["description"]
    assert "meant to be public" in note["content"]["nextSteps"][0]


def test_reason_codes_are_the_ones_the_ec2_api_reference_lists():
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    documented = model.shape_for("StateReason").members["Message"].documentation
    listed = set(re.findall(r"<code>([A-Za-z.]+)</code>", documented))

    assert set(REASON_CODES) == listed


def test_default_chat_changes_follow_the_issue(every_kind):
    selectors = NoticePolicy().chat_changes
    chatty = {d["change"] for d in all_details(every_kind) if wants_chat(d, selectors)}
    quiet_update = [d for d in every_kind["updated"] if "Public" not in d["changedFields"]]

    # Issue 15: `recommended` is in chatChanges by default; issue 10: `left-watch` is not;
    # issue 25: `unavailable` and `disallowed` are; issue 22: `vulnerable` is.
    assert chatty == {"failed", "deregistered", "unavailable", "disallowed", "vulnerable",
                      "deprecated", "deprecation-imminent", "disabled", "updated",
                      "recommended"}  # fmt: skip
    assert all(not wants_chat(d, selectors) for d in quiet_update)
    assert set(selectors) <= set(CHAT_SELECTORS)


def test_email_is_one_line_then_facts_then_the_console_link(every_kind):
    [failed] = every_kind["failed"]

    text = change_email(failed, "aws")
    lines = text.splitlines()

    assert lines[0] == f"An AMI failed: golden-{failed['image']['ImageId'][-4:]}."
    assert lines[1] == ""
    assert lines[2].startswith("  Image:")
    assert "  Reason:     Client.InvalidSnapshot.NotFound: snap-1 <gone> & more" in lines
    assert console_url("aws", "us-east-1", failed["image"]["ImageId"]) in lines
    assert "{" not in text


def test_console_links_follow_the_partition():
    assert console_url("aws", "eu-west-1", "ami-1") == (
        "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1"
        "#ImageDetails:imageId=ami-1"
    )
    assert console_url("aws-cn", "cn-north-1", "ami-1").startswith(
        "https://cn-north-1.console.amazonaws.cn/"
    )
    assert console_url("aws-us-gov", "us-gov-west-1").endswith("region=us-gov-west-1#Images:")


def events_for(every_kind, n: int):
    details = all_details(every_kind)
    return [
        build_event(TARGET, _change_like(details[i % len(details)], i), LATER, "amiwatch")
        for i in range(n)
    ]


def _change_like(detail: dict[str, Any], i: int):
    # A distinct image per event so ids differ; the kind comes from a real detail.
    from amiwatch.model.contract import Change
    from amiwatch.model.records import project_image

    image = dict(detail["image"], ImageId=ami(1000 + i))
    image["Tags"] = [{"Key": k, "Value": v} for k, v in image["Tags"].items()]
    projected = project_image(image)
    assert projected is not None
    return Change(ChangeKind(detail["change"]), projected, detail["reason"], 1, "",
                  detail["previous"], tuple(detail["changedFields"]))  # fmt: skip


@pytest.mark.parametrize("count", [20, 21])
def test_digest_threshold_both_sides(every_kind, count):
    events = events_for(every_kind, count)
    policy = NoticePolicy(chat=True, digest_threshold=20)

    notices = plan_notices(events, TARGET, policy, "amiwatch")
    topic = [n for n in notices if n.channel == TOPIC]
    chat = [n for n in notices if n.channel == CHAT]
    deliveries = [n.entry["MessageAttributes"]["delivery"]["StringValue"] for n in topic]
    chat_eligible = [e for e in events if wants_chat(e.detail, policy.chat_changes)]

    if count == 20:
        assert deliveries == ["each"] * 20
        assert len(chat) == len(chat_eligible)
    else:
        assert deliveries == ["digested"] * 21 + ["digest"]
        [digest] = chat
        assert set(digest.covers) == {e.event_id for e in chat_eligible}
        assert topic[-1].covers == tuple(e.event_id for e in events)
        email = json.loads(topic[-1].entry["Message"])["email"]
        assert email.startswith("21 AMI changes in watch golden (123456789012, us-east-1).")
        assert "...and 11 more." in email
        content = json.loads(digest.entry["Message"])["content"]
        assert content["title"].startswith(f"CRITICAL: {len(chat_eligible)} AMI changes")


def test_digest_ids_are_deterministic(every_kind):
    events = events_for(every_kind, 25)
    policy = NoticePolicy(digest_threshold=5)

    first = plan_notices(events, TARGET, policy, "amiwatch")[-1]
    again = plan_notices(list(reversed(events)), TARGET, policy, "amiwatch")[-1]

    assert first.notice_id == again.notice_id and first.notice_id.startswith("digest-")


def test_email_filter_policy_keeps_digested_messages_away_from_people():
    assert email_filter_policy(None) == {"delivery": ["each", "digest"]}
    assert email_filter_policy({"change": ["failed"], "image_id": ["ami-1"]}) == {
        "$or": [
            {"change": ["failed"], "image_id": ["ami-1"], "delivery": ["each"]},
            {"digest_changes": ["failed"], "delivery": ["digest"]},
        ]
    }


def test_partitions_reach_chat_arns():
    china = Target("golden", "123456789012", "cn-north-1", "aws-cn")
    detail = {
        "eventId": "e" * 32, "change": "new", "watch": "golden", "account": "123456789012",
        "region": "cn-north-1", "image": {"ImageId": "ami-1"}, "changedFields": [],
        "previous": None, "detectedAt": "2026-11-27T13:00:00Z",
    }  # fmt: skip

    note = change_notification(detail, china.partition)

    assert note["metadata"]["relatedResources"] == ["arn:aws-cn:ec2:cn-north-1::image/ami-1"]
    assert "console.amazonaws.cn" in note["content"]["description"]


def rendered(every_kind, kind: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The one change of this kind, its chat notification and its email."""
    [detail] = every_kind[kind]
    return detail, change_notification(detail, "aws"), change_email(detail, "aws")


def test_a_vanished_image_of_another_owner_says_only_what_is_known(every_kind):
    hidden, note, email = rendered(every_kind, "unavailable")

    assert hidden["reason"] == "vanished"
    what = ("no longer visible to this account: deregistered, disabled, no longer shared, or "
            "made private by its owner")  # fmt: skip
    assert f"*State:* {what} (last seen available)" in note["content"]["description"]
    assert f"  State:      {what} (last seen available)" in email
    assert email.startswith("An AMI is no longer available to this account: golden-000b.")
    assert note["content"]["title"].startswith("WARNING: AMI unavailable: ")
    assert "can no longer launch it" in note["content"]["nextSteps"][0]


def test_a_vanished_image_of_the_targets_own_is_deregistered(every_kind):
    gone, note, email = rendered(every_kind, "deregistered")

    assert gone["reason"] == "vanished"
    assert "*State:* deregistered (last seen available)" in note["content"]["description"]
    assert email.startswith("An AMI was deregistered: golden-0003.")
    assert "new launches from it will fail" in note["content"]["nextSteps"][0]


def test_an_image_the_allowed_amis_no_longer_admit_says_launches_are_refused(every_kind):
    disallowed, note, email = rendered(every_kind, "disallowed")

    assert disallowed["reason"] == "allowed-amis"
    assert disallowed["changedFields"] == ["ImageAllowed"]
    assert disallowed["previous"] == {"ImageAllowed": True}
    assert email.startswith("An AMI is no longer allowed in this account (Allowed AMIs)")
    assert "  Changed:    ImageAllowed: true -> false" in email
    assert "launches from it are refused" in note["content"]["nextSteps"][0]


def test_an_image_that_left_the_watch_shows_why_and_is_not_called_gone(every_kind):
    left, note, email = rendered(every_kind, "left-watch")

    assert left["reason"] == "no-longer-matches"
    assert left["changedFields"] == ["Tags"]
    assert left["previous"] == {"Tags": {"team": "platform"}}
    assert left["image"]["Tags"] == {"team": "data"}
    assert note["content"]["title"] == "NOTICE: AMI left watch: golden-0009 (ami-00000000000000009)"
    assert "*Changed:* Tags: team=platform → team=data" in note["content"]["description"]
    assert email.startswith("An AMI left the watch (it still exists): golden-0009.")
    assert "deregistered" not in email


def test_a_reason_is_code_then_message_on_one_line_in_email_and_chat():
    detail = {
        "eventId": "e" * 32, "change": "failed", "watch": "golden", "account": "123456789012",
        "region": "us-east-1", "detectedAt": "2026-11-27T13:00:00Z", "reason": "state",
        "previous": {"State": "pending"}, "changedFields": ["State"],
        "image": {"ImageId": "ami-1", "Name": "golden-1", "State": "failed", "StateReason": {
            "Code": "Server.InternalError",
            "Message": "Internal error\nwhile copying\r\n  snap-1"}},
    }  # fmt: skip

    email = change_email(detail, "aws")
    description = change_notification(detail, "aws")["content"]["description"]

    assert "  Reason:     Server.InternalError: Internal error while copying snap-1\n" in email
    assert "*Reason:* Server.InternalError: Internal error while copying snap-1\n" in description


def test_a_recommended_change_says_which_ami_is_recommended_now_and_which_was(every_kind):
    [moved] = every_kind["recommended"]

    email = change_email(moved, "aws")
    note = change_notification(moved, "aws")

    line = ("EKS 1.31 amazon-linux-2023 x86_64 standard recommended AMI is now "
            "ami-0000000000000000a (was ami-00000000000000009).")  # fmt: skip
    assert email.startswith(line)
    assert note["content"]["description"].startswith(f"*{line}*")
    assert note["content"]["title"].startswith("NOTICE: AMI recommended: eks-new")
    assert moved["parameter"] == {
        "name": "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/"
        "recommended/image_id", "version": 42, "lastModified": "2026-11-27T12:00:00Z",
        "previousVersion": 41,
    }  # fmt: skip
    assert moved["previous"] == {"ImageId": "ami-00000000000000009", "Name": "eks-old"}
