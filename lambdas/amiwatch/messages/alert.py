"""`amiwatch test-alert`: one event of kind `test` through every channel a change takes, so a
team sees the email, the chat message and its automation rule fire before any AMI changes.

The detail is the event contract's (docs/schemas/amiwatch-event-v1.json) with `change: "test"`,
`reason: "test"` and `image: null`; its detail type is `AMI Watch Test`, so rules that name the
kinds they act on (every recipe does) never see it. Each test alert has its own eventId.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from amiwatch.messages.chat import custom_notification
from amiwatch.messages.sns import EACH, string_attribute
from amiwatch.model.contract import (
    EVENT_VERSION,
    SOURCE,
    TEST_CHANGE,
    TEST_DETAIL_TYPE,
    Target,
    dump_detail,
)
from amiwatch.model.records import format_time


def alert_detail(target: Target, now: datetime) -> dict[str, Any]:
    """The detail of one test alert from `target` (a watch, the caller's account and region)."""
    stamp = format_time(now)
    seed = f"{TEST_CHANGE}|{target.watch}|{target.account}|{target.region}|{now.isoformat()}"
    return {
        "version": EVENT_VERSION,
        "eventId": hashlib.sha256(seed.encode()).hexdigest()[:32],
        "change": TEST_CHANGE,
        "watch": target.watch,
        "account": target.account,
        "region": target.region,
        "detectedAt": stamp,
        "image": None,
        "previous": None,
        "changedFields": [],
        "reason": TEST_CHANGE,
        "usage": None,
        "parameter": None,
        "findings": None,
        "replacement": None,
        "truncated": [],
    }


def alert_bus_entry(detail: dict[str, Any], bus_name: str, now: datetime) -> dict[str, Any]:
    """The PutEvents entry: source amiwatch, detail type `AMI Watch Test`, no resources."""
    return {
        "Source": SOURCE,
        "DetailType": TEST_DETAIL_TYPE,
        "Resources": [],
        "Detail": dump_detail(detail),
        "EventBusName": bus_name,
        "Time": now,
    }


def alert_topic_entry(detail: dict[str, Any], sent_by: str) -> dict[str, Any]:
    """The topic's message: the detail as JSON, a short email saying what it proves. Its
    attributes are the ones filter policies match (`change` is `test`, `delivery` `each`)."""
    where = f"{detail['account']} / {detail['region']}"
    email = (
        f"This is a test alert from amiwatch (watch {detail['watch']}, {where}), sent by "
        f"{sent_by} at {detail['detectedAt']} with `amiwatch test-alert`.\n\n"
        "If you read this, email from amiwatch reaches you. Nothing changed: no AMI is named.\n"
        f"eventId {detail['eventId']}"
    )
    return {
        "Id": detail["eventId"],
        "Message": json.dumps({"default": dump_detail(detail), "email": email}),
        "MessageStructure": "json",
        "Subject": f"[amiwatch] Test alert: watch {detail['watch']} {detail['region']}"[:100],
        "MessageAttributes": {
            "change": string_attribute(TEST_CHANGE),
            "delivery": string_attribute(EACH),
            "watch": string_attribute(detail["watch"]),
            "region": string_attribute(detail["region"]),
            "account": string_attribute(detail["account"]),
        },
    }


def alert_chat_entry(detail: dict[str, Any], sent_by: str) -> dict[str, Any]:
    """The chat topic's message: a custom notification titled as a test."""
    notification = custom_notification(
        notification_id=detail["eventId"],
        title=f"NOTICE: amiwatch test alert (watch {detail['watch']})",
        description=(
            f"Sent by {sent_by} with `amiwatch test-alert` at {detail['detectedAt']}: chat "
            f"notifications from amiwatch reach this channel. Nothing changed."
        ),
        next_steps=[],
        keywords=["NOTICE", TEST_CHANGE, detail["watch"]],
        metadata={
            "threadId": f"amiwatch-test-{detail['watch']}",
            "summary": f"amiwatch test alert (watch {detail['watch']})",
            "eventType": "amiwatch-test",
            "relatedResources": [],
            "additionalContext": {"eventId": detail["eventId"], "watch": detail["watch"]},
        },
    )
    return {"Id": detail["eventId"], "Message": json.dumps(notification)}
