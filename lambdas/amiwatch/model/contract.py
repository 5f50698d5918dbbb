"""The event contract: change kinds, reasons, where a watch runs, one change, and its event.

Subscribers build on this: a Change becomes one EventBridge entry (`build_event`) whose detail is
also the `default` message of its SNS notice (see sns_messages). docs/events.md documents it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from amiwatch.model.records import ImageRecord, format_time


class ChangeKind(StrEnum):
    """The kinds of change a subscriber can receive."""

    NEW = "new"
    AVAILABLE = "available"
    FAILED = "failed"
    DISABLED = "disabled"
    DEREGISTERED = "deregistered"
    UNAVAILABLE = "unavailable"
    DISALLOWED = "disallowed"
    VULNERABLE = "vulnerable"
    DEPRECATED = "deprecated"
    DEPRECATION_SCHEDULED = "deprecation-scheduled"
    DEPRECATION_IMMINENT = "deprecation-imminent"
    UPDATED = "updated"
    LEFT_WATCH = "left-watch"
    RECOMMENDED = "recommended"


# Why a change was reported: the `reason` field of every event.
REASONS = (
    "first-seen",
    "matches-again",
    "no-longer-matches",
    "state",
    "vanished",
    "deprecation-time-passed",
    "deprecation-time-set",
    "deprecation-time-changed",
    "within-warning-window",
    "fields-changed",
    "parameter-changed",
    "allowed-amis",
    "findings",
    "test",
)


@dataclass(frozen=True)
class Change:
    """One change of one image. `revision` and `discriminator` pin it for the eventId."""

    kind: ChangeKind
    image: ImageRecord
    reason: str
    revision: int
    discriminator: str
    previous: Mapping[str, Any] | None = None
    changed_fields: tuple[str, ...] = ()
    # `recommended` only: the SSM parameter that moved {name, version, lastModified,
    # previousVersion}.
    parameter: Mapping[str, Any] | None = None


EVENT_VERSION = "1"

SOURCE = "amiwatch"
FORECAST_DETAIL_TYPE = "AMI Forecast"  # one target's forecast (amiwatch.messages.forecast)
# `amiwatch test-alert` (amiwatch.messages.alert): the change contract with image null.
TEST_CHANGE, TEST_DETAIL_TYPE = "test", "AMI Watch Test"

DETAIL_TYPES = {
    ChangeKind.NEW: "AMI New",
    ChangeKind.AVAILABLE: "AMI Available",
    ChangeKind.FAILED: "AMI Failed",
    ChangeKind.DISABLED: "AMI Disabled",
    ChangeKind.DEREGISTERED: "AMI Deregistered",
    ChangeKind.UNAVAILABLE: "AMI Unavailable",
    ChangeKind.DISALLOWED: "AMI Disallowed",
    ChangeKind.VULNERABLE: "AMI Vulnerable",
    ChangeKind.DEPRECATED: "AMI Deprecated",
    ChangeKind.DEPRECATION_SCHEDULED: "AMI Deprecation Scheduled",
    ChangeKind.DEPRECATION_IMMINENT: "AMI Deprecation Imminent",
    ChangeKind.UPDATED: "AMI Updated",
    ChangeKind.LEFT_WATCH: "AMI Left Watch",
    ChangeKind.RECOMMENDED: "AMI Recommended",
}


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
    """One change, ready for the bus (its SNS messages are planned by `sns_messages`)."""

    event_id: str
    image_id: str
    detail: dict[str, Any]
    eventbridge_entry: dict[str, Any]
    change: Change


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
    target: Target,
    change: Change,
    detected_at: datetime,
    bus_name: str,
    usage: Mapping[str, Any] | None = None,
    *,
    findings: Mapping[str, Any] | None = None,
    replacement: Mapping[str, Any] | None = None,
) -> OutgoingEvent:
    """Render a change to its detail and EventBridge entry. What enriches it — `usage` (who
    still uses the image), `findings` (Inspector's, for `vulnerable`), `replacement` (what to
    move to) — is not part of the eventId: a re-sent event may carry fresher values."""
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
        "usage": dict(usage) if usage is not None else None,
        "parameter": dict(change.parameter) if change.parameter is not None else None,
        "findings": dict(findings) if findings is not None else None,
        "replacement": dict(replacement) if replacement is not None else None,
        "truncated": [],  # parts cut to fit AWS's size limits (amiwatch.messages.budget)
    }
    detail_json = dump_detail(detail)
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[change.kind],
        "Resources": [target.image_arn(change.image.image_id)],
        "Detail": detail_json,
        "EventBusName": bus_name,
        "Time": detected_at,
    }
    return OutgoingEvent(eid, change.image.image_id, detail, entry, change)


def dump_detail(detail: Mapping[str, Any]) -> str:
    """The detail as sent: compact JSON in UTF-8 (\\u escapes would triple non-ASCII text)."""
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)
