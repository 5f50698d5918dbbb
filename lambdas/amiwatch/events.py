"""The event contract: each Change becomes one EventBridge entry and one SNS message."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from amiwatch.diff import Change, ChangeKind
from amiwatch.records import format_time

EVENT_VERSION = "1"
SOURCE = "amiwatch"
DETAIL_TYPES = {
    ChangeKind.NEW: "AMI New",
    ChangeKind.AVAILABLE: "AMI Available",
    ChangeKind.FAILED: "AMI Failed",
    ChangeKind.DISABLED: "AMI Disabled",
    ChangeKind.DEREGISTERED: "AMI Deregistered",
    ChangeKind.DEPRECATED: "AMI Deprecated",
    ChangeKind.DEPRECATION_SCHEDULED: "AMI Deprecation Scheduled",
    ChangeKind.DEPRECATION_IMMINENT: "AMI Deprecation Imminent",
    ChangeKind.UPDATED: "AMI Updated",
    ChangeKind.LEFT_WATCH: "AMI Left Watch",
}
MAX_SUBJECT = 100
# String message attributes of every per-change SNS message (state_reason_code only when there
# is one; delivery is "each", or "digested" in a run that sent a digest instead).
MESSAGE_ATTRIBUTES = (
    "change",
    "watch",
    "region",
    "account",
    "image_id",
    "owner_id",
    "state",
    "state_reason_code",
    "delivery",
)


@dataclass(frozen=True)
class Target:
    """Where a watch runs: its name, account and region (and the region's partition)."""

    watch: str
    account: str
    region: str
    partition: str = "aws"

    def image_arn(self, image_id: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}::image/{image_id}"


@dataclass(frozen=True)
class OutgoingEvent:
    """One change, ready for the bus (its SNS messages are planned by `notices`)."""

    event_id: str
    image_id: str
    detail: dict[str, Any]
    eventbridge_entry: dict[str, Any]


def event_id(target: Target, change: Change) -> str:
    """Deterministic: the same change of the same image always gets the same id."""
    parts = [
        target.watch,
        target.account,
        target.region,
        change.image.image_id,
        str(change.revision),
        change.kind.value,
        change.discriminator,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def build_event(
    target: Target, change: Change, detected_at: datetime, bus_name: str
) -> OutgoingEvent:
    """Render a change to its detail and EventBridge entry."""
    eid = event_id(target, change)
    detail = {
        "version": EVENT_VERSION,
        "eventId": eid,
        "change": change.kind.value,
        "watch": target.watch,
        "account": target.account,
        "region": target.region,
        "detectedAt": format_time(detected_at),
        "image": change.image.as_dict(),
        "previous": dict(change.previous) if change.previous is not None else None,
        "changedFields": list(change.changed_fields),
        "reason": change.reason,
    }
    detail_json = json.dumps(detail, separators=(",", ":"))
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[change.kind],
        "Resources": [target.image_arn(change.image.image_id)],
        "Detail": detail_json,
        "EventBusName": bus_name,
        "Time": detected_at,
    }
    return OutgoingEvent(eid, change.image.image_id, detail, entry)


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
        "state_reason_code": reason.get("Code"),
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
