"""The event contract: each Change becomes one EventBridge entry and one SNS message."""

from __future__ import annotations

import hashlib
import json
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
}
HEADLINES = {
    ChangeKind.NEW: "A new AMI appeared",
    ChangeKind.AVAILABLE: "An AMI became available",
    ChangeKind.FAILED: "An AMI failed",
    ChangeKind.DISABLED: "An AMI was disabled",
    ChangeKind.DEREGISTERED: "An AMI was deregistered",
    ChangeKind.DEPRECATED: "An AMI is now deprecated",
    ChangeKind.DEPRECATION_SCHEDULED: "An AMI's deprecation was scheduled",
    ChangeKind.DEPRECATION_IMMINENT: "An AMI will be deprecated soon",
    ChangeKind.UPDATED: "An AMI was updated",
}
MAX_SUBJECT = 100
# String message attributes on every SNS message (state_reason_code only when there is one).
MESSAGE_ATTRIBUTES = (
    "change",
    "watch",
    "region",
    "account",
    "image_id",
    "owner_id",
    "state",
    "state_reason_code",
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
    """One change, ready for both channels."""

    event_id: str
    image_id: str
    detail: dict[str, Any]
    eventbridge_entry: dict[str, Any]
    sns_entry: dict[str, Any]


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
    """Render a change to its EventBridge entry and SNS PublishBatch entry."""
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
    message = {"default": detail_json, "email": email_text(detail)}
    sns_entry = {
        "Id": eid,
        "Message": json.dumps(message),
        "MessageStructure": "json",
        "Subject": subject(detail),
        "MessageAttributes": message_attributes(detail),
    }
    return OutgoingEvent(eid, change.image.image_id, detail, entry, sns_entry)


def subject(detail: dict[str, Any]) -> str:
    """`[amiwatch] AMI Failed: <name> (<id>) <region>`: ASCII, at most 100 characters."""
    image = detail["image"]
    head = f"[amiwatch] {DETAIL_TYPES[ChangeKind(detail['change'])]}: "
    tail = f" ({image['ImageId']}) {detail['region']}"
    name = _ascii(image.get("Name") or "unnamed")
    room = MAX_SUBJECT - len(head) - len(tail)
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..."
    return _ascii(head + name + tail)[:MAX_SUBJECT]


def email_text(detail: dict[str, Any]) -> str:
    """A short plain-text description of the change, for email subscribers."""
    image = detail["image"]
    change = ChangeKind(detail["change"])
    lines = [
        f"{HEADLINES[change]} (watch {detail['watch']}).",
        "",
        f"Image:      {image.get('Name') or 'unnamed'} ({image['ImageId']})",
        f"Region:     {detail['region']}   Account: {detail['account']}",
        f"Owner:      {image.get('OwnerId') or 'unknown'}"
        + (f" ({image['ImageOwnerAlias']})" if image.get("ImageOwnerAlias") else ""),
        f"State:      {image.get('State') or 'unknown'}",
    ]
    reason = image.get("StateReason") or {}
    if reason.get("Code") or reason.get("Message"):
        lines.append(
            f"Reason:     {reason.get('Code') or ''} {reason.get('Message') or ''}".rstrip()
        )
    if image.get("DeprecationTime"):
        lines.append(f"Deprecates: {image['DeprecationTime']}")
    previous = detail.get("previous") or {}
    for name in detail.get("changedFields", []):
        lines.append(
            f"Changed:    {name}: {_short(previous.get(name))} -> {_short(image.get(name))}"
        )
    lines += ["", f"Detected {detail['detectedAt']}. Event id {detail['eventId']}."]
    return "\n".join(lines)


def message_attributes(detail: dict[str, Any]) -> dict[str, dict[str, str]]:
    """String attributes that SNS subscription filter policies can match on."""
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
    }
    return {
        key: {"DataType": "String", "StringValue": str(value)}
        for key, value in values.items()
        if value not in (None, "")
    }


def _ascii(text: str) -> str:
    # SNS subjects allow printable ASCII only: no line breaks or control characters.
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
