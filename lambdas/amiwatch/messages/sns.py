"""The SNS messages a run sends, and what subscribers filter them by.

One message per change on the topic (subject, string attributes, the detail as `default` and
plain text as `email`), chat notifications on the chat topic, and digests: busy runs (more
changes than the digest threshold) still send every change to EventBridge and one message per
change to the topic, marked `delivery=digested` so the stack's email subscriptions skip them;
people get ONE digest instead, by email and in chat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amiwatch.judge.usage import in_use
from amiwatch.messages.chat import change_notification, digest_notification, wants_chat
from amiwatch.messages.mail import change_email, digest_email
from amiwatch.messages.tally import Tally
from amiwatch.model import defaults
from amiwatch.model.contract import (
    DETAIL_TYPES,
    EVENT_VERSION,
    ChangeKind,
    OutgoingEvent,
    Target,
    dump_detail,
)
from amiwatch.model.errors import ConfigError, suggest

MAX_SUBJECT = 100
DIGEST_THRESHOLD_LIMITS = (1, 100_000)

# String message attributes of every per-change SNS message (delivery is "each", or "digested"
# in a run that sent a digest instead). SNS drops a message with more than 10 attributes on raw
# delivery to SQS, so the optional ones go only where they mean something: state_reason_code on
# the kinds that report a state (when there is one), in_use on the kinds that carry usage,
# parameter on `recommended`, severity on `vulnerable`. No kind carries more than 10 (a test
# goes through all of them).
MAX_ATTRIBUTES = 10
STATE_REASON_KINDS = frozenset({"failed", "available", "disabled", "deregistered"})
MESSAGE_ATTRIBUTES = (
    "change",
    "watch",
    "region",
    "account",
    "image_id",
    "owner_id",
    "state",
    "state_reason_code",
    "in_use",
    "parameter",
    "severity",
    "delivery",
)


def subject(detail: Mapping[str, Any]) -> str:
    """`[amiwatch] AMI Failed: <name> (<id>) <region>`: ASCII, at most 100 characters."""
    image = detail["image"]
    head = f"[amiwatch] {DETAIL_TYPES[ChangeKind(detail['change'])]}: "
    tail = f" ({image['ImageId']}) {detail['region']}"
    name = _ascii(image.get("Name") or "unnamed")
    room = MAX_SUBJECT - len(head) - len(tail)
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..."
    return _ascii(head + name + tail)[:MAX_SUBJECT]


def message_attributes(detail: Mapping[str, Any], delivery: str) -> dict[str, dict[str, str]]:
    """String attributes that SNS subscription filter policies can match on (MESSAGE_ATTRIBUTES)."""
    image = detail["image"]
    reason = image.get("StateReason") or {}
    values = {
        "change": detail["change"],
        "watch": detail["watch"],
        "region": detail["region"],
        "account": detail["account"],
        "image_id": image["ImageId"],
        "owner_id": image.get("OwnerId"),
        "state": image.get("State"),
        "state_reason_code": reason.get("Code") if detail["change"] in STATE_REASON_KINDS else None,
        "in_use": in_use(detail.get("usage")),
        "parameter": (detail.get("parameter") or {}).get("name"),
        "severity": (detail.get("findings") or {}).get("highestSeverity"),
        "delivery": delivery,
    }
    return {
        key: string_attribute(str(value))
        for key, value in values.items()
        if value not in (None, "")
    }


def string_attribute(value: str) -> dict[str, str]:
    """An SNS message attribute of type String."""
    return {"DataType": "String", "StringValue": value}


def _ascii(text: str) -> str:
    # SNS subjects allow printable ASCII only: no line breaks or control characters.
    return "".join(c if " " <= c <= "~" else "?" for c in text)


FORECAST = "forecast"  # the forecast's one message per run (messages.forecast)
CHAT_SELECTORS = (
    tuple(kind.value for kind in ChangeKind)
    + tuple(f"updated:{field}" for field in ("Public",))
    + (FORECAST,)
)


def chat_changes(values: Any, where: str) -> frozenset[str]:
    """Validate a list of chat selectors (change kinds, or `updated:Public`)."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where} must be a list of change kinds")
    unknown = [v for v in values if v not in CHAT_SELECTORS]
    if unknown:
        hint = suggest(unknown[0], CHAT_SELECTORS) or f" (known: {', '.join(CHAT_SELECTORS)})"
        raise ConfigError(f'{where}: unknown change "{unknown[0]}"{hint}')
    return frozenset(values)


def digest_threshold(value: Any, where: str) -> int:
    """Validate a digest threshold (a whole number 1..100000, as text or int)."""
    low, high = DIGEST_THRESHOLD_LIMITS
    text = str(value)
    if (
        isinstance(value, bool)
        or not (text.isascii() and text.isdigit())
        or not (low <= int(text) <= high)
    ):
        raise ConfigError(f"{where} must be a whole number {low}..{high}, got {value!r}")
    return int(text)


TOPIC, CHAT = "topic", "chat"
EACH, DIGESTED, DIGEST = "each", "digested", "digest"


@dataclass(frozen=True)
class NoticePolicy:
    """Who hears about what: chat on or off, which changes reach chat, when to digest."""

    chat: bool = False
    chat_changes: frozenset[str] = field(default_factory=lambda: frozenset(defaults.CHAT_CHANGES))
    digest_threshold: int = defaults.DIGEST_THRESHOLD


@dataclass(frozen=True)
class Notice:
    """One SNS message for one channel, and the events whose delivery depends on it."""

    channel: str  # TOPIC | CHAT
    entry: dict[str, Any]  # a PublishBatch entry
    covers: tuple[str, ...]  # eventIds

    @property
    def notice_id(self) -> str:
        return str(self.entry["Id"])


@dataclass
class RunDigest:
    """The digest of a run that reviews its images in several chunks.

    People get one digest per run: every chunk's per-change topic messages are `digested`, and
    the last chunk's digest counts what the earlier chunks delivered (`people`, `chat`).
    """

    people: Tally = field(default_factory=Tally)
    chat: Tally = field(default_factory=Tally)

    def delivered(self, events: Sequence[OutgoingEvent], policy: NoticePolicy) -> None:
        """Count the events of an earlier chunk that were delivered."""
        self.people.add(e.detail for e in events)
        self.chat.add(e.detail for e in events if _for_chat(e, policy))


def plan_notices(
    events: Sequence[OutgoingEvent],
    target: Target,
    policy: NoticePolicy,
    bus_name: str,
    *,
    run: RunDigest | None = None,
    last: bool = True,
) -> list[Notice]:
    """Every SNS message for these events: per change, or per change plus digests.

    `run` is set once the run is known to span several chunks: it is then a digest run whatever
    its count, and only its `last` chunk sends the digest, counting the whole run.
    """
    digest = run is not None or len(events) > policy.digest_threshold
    delivery = DIGESTED if digest else EACH
    notices = [
        Notice(TOPIC, topic_entry(e.detail, target.partition, delivery), (e.event_id,))
        for e in events
    ]
    for_chat = [e for e in events if _for_chat(e, policy)]
    if not digest:
        notices += [
            Notice(CHAT, chat_entry(e.event_id, change_notification(e.detail, target.partition)),
                   (e.event_id,))
            for e in for_chat
        ]  # fmt: skip
        return notices
    if not last:
        return notices
    run = run or RunDigest()
    people = run.people.plus(e.detail for e in events)
    if people.total:
        notices.append(digest_topic_notice(people, _ids(events), target, bus_name))
    chat = run.chat.plus(e.detail for e in for_chat)
    if chat.total:
        message = digest_notification(chat, bus_name)
        notices.append(Notice(CHAT, chat_entry(chat.digest_id, message), _ids(for_chat)))
    return notices


def _for_chat(event: OutgoingEvent, policy: NoticePolicy) -> bool:
    return policy.chat and wants_chat(event.detail, policy.chat_changes)


def topic_entry(detail: Mapping[str, Any], partition: str, delivery: str) -> dict[str, Any]:
    """The topic's message for one change: the detail JSON, or readable text for email."""
    message = {"default": dump_detail(detail), "email": change_email(detail, partition)}
    return {
        "Id": detail["eventId"],
        "Message": json.dumps(message, ensure_ascii=False),
        "MessageStructure": "json",
        "Subject": subject(detail),
        "MessageAttributes": message_attributes(detail, delivery),
    }


def digest_topic_notice(
    tally: Tally, covers: tuple[str, ...], target: Target, bus_name: str
) -> Notice:
    """One message for the topic's people: the digest email (and a JSON summary by default)."""
    counts = tally.by_kind()
    summary = {
        "version": EVENT_VERSION,
        "digestId": tally.digest_id,
        "change": DIGEST,
        "watch": target.watch,
        "account": target.account,
        "region": target.region,
        "detectedAt": tally.first[0]["detectedAt"],
        "counts": counts,
        "first": [
            {"eventId": d["eventId"], "change": d["change"], "imageId": d["image"]["ImageId"]}
            for d in tally.first
        ],
    }
    message = {
        "default": json.dumps(summary, separators=(",", ":")),
        "email": digest_email(tally, bus_name, target.partition),
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
        "Id": tally.digest_id,
        "Message": json.dumps(message),
        "MessageStructure": "json",
        "Subject": f"[amiwatch] {tally.total} AMI changes in {target.watch} ({target.region})"[
            :100
        ],
        "MessageAttributes": attributes,
    }
    return Notice(TOPIC, entry, covers)


def chat_entry(notice_id: str, notification: Mapping[str, Any]) -> dict[str, Any]:
    """A chat topic message: the notification JSON as is (the chat service reads nothing else)."""
    return {"Id": notice_id, "Message": json.dumps(notification)}


def _ids(events: Sequence[OutgoingEvent]) -> tuple[str, ...]:
    return tuple(e.event_id for e in events)
