"""AWS's own AMI events, read into what a refresh needs: which images, in which account and region.

Two kinds arrive through the refresh queue (docs/realtime.md):
- `aws.ec2` "EC2 AMI State Change" (available, failed, deregistered, disabled; owner account only,
  best effort), detail `{RequestId, ImageId, State, ErrorMessage}`;
- `aws.ec2` "AWS API Call via CloudTrail" for the calls that change an AMI without a state change
  (deprecation, enable/disable, attributes, tags, deregistration protection).
and an SNS notification from a vendor's topic (`refreshOn`): a new release of another owner,
which asks for a full scan of the watches that name the topic; and, on the target queue, the
dispatcher's `scan` orders (one target each).

Pure: a message in, a `Refresh` (or the reason it is ignored) out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATE_CHANGE = "EC2 AMI State Change"
API_CALL = "AWS API Call via CloudTrail"
# The calls that change what a watch sees of an AMI: its state, deprecation, launch permissions
# (which decide who sees it), attributes, deregistration protection, a restore from the Recycle
# Bin, and the calls that create one (the new image's id is in responseElements).
IMAGE_CALLS = (
    "DeregisterImage",
    "EnableImageDeprecation",
    "DisableImageDeprecation",
    "EnableImage",
    "DisableImage",
    "ModifyImageAttribute",
    "ResetImageAttribute",
    "EnableImageDeregistrationProtection",
    "DisableImageDeregistrationProtection",
    "CancelImageLaunchPermission",
    "RestoreImageFromRecycleBin",
    "CreateImage",
    "CopyImage",
    "RegisterImage",
)
TAG_CALLS = ("CreateTags", "DeleteTags")
AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}", re.ASCII)
ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
# How far into requestParameters ids are looked for: EC2 nests some newer calls' parameters
# ({"ModifyInstanceMetadataOptionsRequest": {...}}) and names resources in item lists.
MAX_DEPTH = 8
MAX_IDS = 1000


@dataclass(frozen=True)
class Refresh:
    """Look at these images of this account and region now (a targeted refresh)."""

    account: str
    region: str
    image_ids: tuple[str, ...]


@dataclass(frozen=True)
class Rescan:
    """A vendor announced a release on this SNS topic: scan the watches that name it."""

    topic_arn: str


@dataclass(frozen=True)
class Scan:
    """The dispatcher's message: run this target's full scan (amiwatch.judge.dispatch)."""

    watch: str
    account: str  # "self" or a 12-digit id
    role_name: str
    region: str
    scan_id: str | None = None  # a continuation: carry on this checkpointed scan only


@dataclass(frozen=True)
class Forecast:
    """The forecast dispatcher's message: forecast this target for this period (the
    schedule's time; amiwatch.judge.forecast)."""

    watch: str
    account: str  # "self" or a 12-digit id
    role_name: str
    region: str
    period: str


@dataclass(frozen=True)
class Ignored:
    """A message that asks for nothing amiwatch can do: counted and logged, never retried."""

    reason: str  # no-image-id | unexpected-source | malformed | no-watch


Request = Refresh | Rescan | Scan | Forecast | Ignored


def read_message(body: Any) -> Request:
    """What one queue message asks for; anything unreadable is Ignored("malformed")."""
    if not isinstance(body, str):
        return Ignored("malformed")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return Ignored("malformed")
    if not isinstance(message, dict):
        return Ignored("malformed")
    if message.get("Type") == "Notification" and isinstance(message.get("TopicArn"), str):
        return Rescan(message["TopicArn"])
    if "scan" in message:
        return _scan(message["scan"])
    if "forecast" in message:
        return _forecast(message["forecast"])
    return read_event(message)


def _scan(order: Any) -> Request:
    fields = ("watch", "account", "roleName", "region")
    if not isinstance(order, dict) or not all(isinstance(order.get(f), str) for f in fields):
        return Ignored("malformed")
    scan_id = order.get("scanId")
    if scan_id is not None and not isinstance(scan_id, str):
        return Ignored("malformed")
    return Scan(order["watch"], order["account"], order["roleName"], order["region"], scan_id)


def _forecast(order: Any) -> Request:
    fields = ("watch", "account", "roleName", "region", "period")
    if not isinstance(order, dict) or not all(isinstance(order.get(f), str) for f in fields):
        return Ignored("malformed")
    return Forecast(*(order[f] for f in fields))


def read_event(event: Mapping[str, Any]) -> Request:
    """An EventBridge event (as the queue receives it) to the images it is about."""
    account, region = event.get("account"), event.get("region")
    if event.get("source") != "aws.ec2" or not isinstance(region, str):
        return Ignored("unexpected-source")
    if not isinstance(account, str) or not ACCOUNT_ID.fullmatch(account):
        return Ignored("malformed")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("malformed")
    if event.get("detail-type") == STATE_CHANGE:
        ids = [detail.get("ImageId")]
    elif event.get("detail-type") == API_CALL:
        ids = _called_on(detail)
    else:
        return Ignored("unexpected-source")
    images = tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and AMI_ID.fullmatch(i)))
    return Refresh(account, region, images) if images else Ignored("no-image-id")


def _called_on(detail: Mapping[str, Any]) -> list[Any]:
    if detail.get("errorCode"):
        return []  # a call that failed changed nothing
    if detail.get("eventName") not in (*IMAGE_CALLS, *TAG_CALLS):
        return []
    found: list[str] = []
    _ami_ids(detail.get("requestParameters"), 0, found)
    response = detail.get("responseElements")
    if isinstance(response, Mapping):
        _ami_ids(response.get("imageId"), MAX_DEPTH, found)  # the image a call created
    return list(found)


def _ami_ids(value: Any, depth: int, found: list[str]) -> None:
    """Every `ami-` id in a CloudTrail parameters document, whatever its nesting (bounded)."""
    if len(found) >= MAX_IDS or depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        if AMI_ID.fullmatch(value):
            found.append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _ami_ids(item, depth + 1, found)
    elif isinstance(value, list):
        for item in value:
            _ami_ids(item, depth + 1, found)
