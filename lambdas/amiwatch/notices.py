"""The SNS messages a run sends: one per change on the topic, chat notifications, and digests.

Busy runs (more changes than the digest threshold) still send every change to EventBridge and
one message per change to the topic, marked `delivery=digested` so the stack's email
subscriptions skip them; people get ONE digest instead, by email and in chat.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amiwatch.chat import DEFAULT_CHAT_CHANGES, change_notification, digest_notification, wants_chat
from amiwatch.events import (
    EVENT_VERSION,
    OutgoingEvent,
    Target,
    message_attributes,
    string_attribute,
    subject,
)
from amiwatch.mail import change_email, digest_email, kind_counts

TOPIC, CHAT = "topic", "chat"
EACH, DIGESTED, DIGEST = "each", "digested", "digest"
DEFAULT_DIGEST_THRESHOLD = 20
DIGEST_LISTED = 10
PER_IMAGE_ATTRIBUTES = ("image_id", "owner_id", "state", "state_reason_code")


@dataclass(frozen=True)
class NoticePolicy:
    """Who hears about what: chat on or off, which changes reach chat, when to digest."""

    chat: bool = False
    chat_changes: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_CHAT_CHANGES))
    digest_threshold: int = DEFAULT_DIGEST_THRESHOLD


@dataclass(frozen=True)
class Notice:
    """One SNS message for one channel, and the events whose delivery depends on it."""

    channel: str  # TOPIC | CHAT
    entry: dict[str, Any]  # a PublishBatch entry
    covers: tuple[str, ...]  # eventIds

    @property
    def notice_id(self) -> str:
        return str(self.entry["Id"])


def plan_notices(
    events: Sequence[OutgoingEvent], target: Target, policy: NoticePolicy, bus_name: str
) -> list[Notice]:
    """Every SNS message for these events: per change, or per change plus digests."""
    digest = len(events) > policy.digest_threshold
    delivery = DIGESTED if digest else EACH
    notices = [
        Notice(TOPIC, topic_entry(e.detail, target.partition, delivery), (e.event_id,))
        for e in events
    ]
    for_chat = [e for e in events if policy.chat and wants_chat(e.detail, policy.chat_changes)]
    if not digest:
        notices += [
            Notice(CHAT, chat_entry(e.event_id, change_notification(e.detail, target.partition)),
                   (e.event_id,))
            for e in for_chat
        ]  # fmt: skip
        return notices
    notices.append(digest_topic_notice(events, target, bus_name))
    if for_chat:
        details = [e.detail for e in for_chat]
        digest_id = _digest_id(for_chat)
        message = digest_notification(details, DIGEST_LISTED, bus_name, digest_id)
        notices.append(Notice(CHAT, chat_entry(digest_id, message), _ids(for_chat)))
    return notices


def topic_entry(detail: Mapping[str, Any], partition: str, delivery: str) -> dict[str, Any]:
    """The topic's message for one change: the detail JSON, or readable text for email."""
    detail_json = json.dumps(detail, separators=(",", ":"))
    message = {"default": detail_json, "email": change_email(detail, partition)}
    return {
        "Id": detail["eventId"],
        "Message": json.dumps(message),
        "MessageStructure": "json",
        "Subject": subject(detail),
        "MessageAttributes": message_attributes(detail, delivery),
    }


def digest_topic_notice(events: Sequence[OutgoingEvent], target: Target, bus_name: str) -> Notice:
    """One message for the topic's people: the digest email (and a JSON summary by default)."""
    details = [e.detail for e in events]
    digest_id = _digest_id(events)
    counts = kind_counts(details)
    summary = {
        "version": EVENT_VERSION,
        "digestId": digest_id,
        "change": DIGEST,
        "watch": target.watch,
        "account": target.account,
        "region": target.region,
        "detectedAt": details[0]["detectedAt"],
        "counts": counts,
        "first": [
            {"eventId": e.event_id, "change": e.detail["change"], "imageId": e.image_id}
            for e in events[:DIGEST_LISTED]
        ],
    }
    message = {
        "default": json.dumps(summary, separators=(",", ":")),
        "email": digest_email(details, DIGEST_LISTED, bus_name, target.partition),
    }
    attributes = {
        "change": string_attribute(DIGEST),
        "delivery": string_attribute(DIGEST),
        "watch": string_attribute(target.watch),
        "region": string_attribute(target.region),
        "account": string_attribute(target.account),
        "digest_changes": {"DataType": "String.Array", "StringValue": json.dumps(list(counts))},
    }
    entry = {
        "Id": digest_id,
        "Message": json.dumps(message),
        "MessageStructure": "json",
        "Subject": f"[amiwatch] {len(events)} AMI changes in {target.watch} ({target.region})"[
            :100
        ],
        "MessageAttributes": attributes,
    }
    return Notice(TOPIC, entry, _ids(events))


def chat_entry(notice_id: str, notification: Mapping[str, Any]) -> dict[str, Any]:
    """A chat topic message: the notification JSON as is (the chat service reads nothing else)."""
    return {"Id": notice_id, "Message": json.dumps(notification)}


def email_filter_policy(user_policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The filter policy of an email subscription: per-change messages of quiet runs, digests.

    A user's own policy (over the per-change attributes) applies to both: on a digest its
    `change` rule matches `digest_changes`, and rules on single-image attributes (image_id,
    owner_id, state, state_reason_code) do not apply.
    """
    if not user_policy:
        return {"delivery": [EACH, DIGEST]}
    on_digest = {
        ("digest_changes" if name == "change" else name): rule
        for name, rule in user_policy.items()
        if name not in PER_IMAGE_ATTRIBUTES and name != "delivery"
    }
    return {
        "$or": [
            {**user_policy, "delivery": [EACH]},
            {**on_digest, "delivery": [DIGEST]},
        ]
    }


def _ids(events: Sequence[OutgoingEvent]) -> tuple[str, ...]:
    return tuple(e.event_id for e in events)


def _digest_id(events: Sequence[OutgoingEvent]) -> str:
    # Deterministic like eventIds: a digest re-sent for the same changes has the same id.
    joined = "|".join(sorted(_ids(events)))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:32]
