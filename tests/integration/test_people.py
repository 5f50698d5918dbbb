"""What people get: one digest for a busy run, single messages otherwise, chat never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amiwatch.messages.sns import NoticePolicy
from amiwatch.run import pipeline
from amiwatch.run.pipeline import run_watch
from amiwatch.run.result import PublishIncomplete
from devtools.local_aws import LocalAws

from ..doubles import DeafTopic
from .conftest import register
from .test_delivery import T0, TARGET, WATCH, edges

CHAT_NEW = NoticePolicy(chat=True, chat_changes=frozenset({"new", "failed"}))


def run(aws: LocalAws, hours: int, policy: NoticePolicy = CHAT_NEW, sns=None):
    watch_aws = edges(aws, sns=sns, notices=policy)
    return run_watch(WATCH, TARGET, watch_aws, T0 + timedelta(hours=hours), owner=f"run-{hours}")


@pytest.fixture
def baselined(aws: LocalAws) -> None:
    register(aws, "golden-base")
    run(aws, 0)


def test_a_busy_run_sends_people_one_digest_and_automation_every_event(aws, baselined):
    images = [register(aws, f"golden-{i:02d}") for i in range(21)]

    result = run(aws, 1)
    bus, topic = aws.bus_events(), aws.topic_messages()
    people, chat = aws.people_messages(), aws.chat_messages()

    assert result.summary()["changes"] == {"new": 21}
    assert len(bus) == 21
    assert sorted(m["attributes"]["delivery"] for m in topic) == ["digest"] + ["digested"] * 21
    [digest] = people
    assert digest["attributes"]["change"] == "digest"
    assert digest["detail"]["counts"] == {"new": 21}
    assert {f["imageId"] for f in digest["detail"]["first"]} <= set(images)
    [chat_digest] = chat
    assert chat_digest["content"]["title"] == "INFO: 21 AMI changes in watch golden (us-east-1)"
    assert "...and 11 more." in chat_digest["content"]["description"]


def test_a_quiet_run_sends_people_one_message_per_change(aws, baselined):
    for i in range(3):
        register(aws, f"golden-{i:02d}")

    run(aws, 1)
    people, chat = aws.people_messages(), aws.chat_messages()

    assert [m["attributes"]["delivery"] for m in people] == ["each"] * 3
    assert sorted(c["id"] for c in chat) == sorted(m["detail"]["eventId"] for m in people)


def test_a_digest_chat_cannot_take_is_resent_with_its_changes_next_run(aws, baselined):
    for i in range(21):
        register(aws, f"golden-{i:02d}")
    deaf = DeafTopic(aws.client("sns"), aws.chat_topic_arn)

    with pytest.raises(PublishIncomplete) as incomplete:
        run(aws, 1, sns=deaf)
    first_bus = sorted(e["detail"]["eventId"] for e in aws.bus_events())
    aws.people_messages()  # drain: the email digest of the first run went out
    retried = run(aws, 2)
    second_bus = sorted(e["detail"]["eventId"] for e in aws.bus_events())

    assert incomplete.value.result.summary()["undelivered"] == 21
    assert all("KMSThrottling" in why for why in incomplete.value.result.undelivered.values())
    assert retried.summary()["changes"] == {"new": 21}
    assert second_bus == first_bus  # same eventIds: automation de-duplicates
    assert len(aws.chat_messages()) == 1 and len(aws.people_messages()) == 1
    assert run(aws, 3).summary()["changes"] == {}


def test_a_run_reviewed_in_several_chunks_sends_people_one_digest(aws, baselined, monkeypatch):
    monkeypatch.setattr(pipeline, "REVIEW_CHUNK", 10)  # 25 new images: chunks of 10, 10 and 5
    images = [register(aws, f"golden-{i:02d}") for i in range(25)]

    result = run(aws, 1)
    bus, topic = aws.bus_events(), aws.topic_messages()
    people, chat = aws.people_messages(), aws.chat_messages()

    assert result.summary()["changes"] == {"new": 25}
    assert len(bus) == 25
    assert sorted(m["attributes"]["delivery"] for m in topic) == ["digest"] + ["digested"] * 25
    [digest] = people
    assert digest["detail"]["counts"] == {"new": 25}
    assert len(digest["detail"]["first"]) == 10
    assert {f["imageId"] for f in digest["detail"]["first"]} <= set(images)
    [chat_digest] = chat
    assert chat_digest["content"]["title"] == "INFO: 25 AMI changes in watch golden (us-east-1)"
    assert run(aws, 2).summary()["changes"] == {}
