"""Every event fits what AWS accepts: 256 KiB per EventBridge entry and per SNS message (pure).

Measured as AWS measures what is sent: the UTF-8 bytes of the entry's Detail, DetailType, Source
and Resources plus 14 for Time (EventBridge, with room for the envelope it adds), and of an SNS
message's body, subject and attribute names, types and values. A record caps each string, but 50
tags at EC2's length limits in both `image` and `previous` pass the limit; a refused entry would
be re-sent every run and its target would never succeed again. So an event over budget is cut,
largest parts first, and says what was cut in `truncated`; it is never dropped, and its eventId
never depends on the cut.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from amiwatch.messages.sns import topic_entry
from amiwatch.model.contract import OutgoingEvent, dump_detail
from amiwatch.model.records import TRUNCATION_MARK

LIMIT_BYTES = 256 * 1024
# Keys and values EventBridge wraps around an entry (version, id, account, time, region...).
ENVELOPE_BYTES = 1024
TIME_FIELD_BYTES = 14  # PutEvents counts a Time field as 14 bytes however it is sent
SHORT_CHARS = 64  # what a cut string keeps
# What must survive the last cut: who, what, which state.
IDENTITY_FIELDS = frozenset({
    "ImageId", "Name", "OwnerId", "ImageOwnerAlias", "State", "StateReason", "CreationDate",
    "DeprecationTime", "Public", "Architecture", "Platform",
})  # fmt: skip

Detail = dict[str, Any]


def eventbridge_bytes(entry: dict[str, Any]) -> int:
    """PutEvents' own size rule for one entry."""
    size = TIME_FIELD_BYTES if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def sns_bytes(entry: dict[str, Any]) -> int:
    """An SNS message as SNS counts it: body, subject, and every attribute's name, type, value."""
    size = len(entry["Message"].encode()) + len(entry.get("Subject", "").encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode())
    return size


def fits(event: OutgoingEvent, partition: str) -> bool:
    """Do the bus entry and the topic message of this event fit AWS's limits?"""
    bus = eventbridge_bytes(event.eventbridge_entry) + ENVELOPE_BYTES
    # "digested" is the longer delivery value: whichever the run uses, the message fits.
    topic = sns_bytes(topic_entry(event.detail, partition, "digested"))
    return bus <= LIMIT_BYTES and topic <= LIMIT_BYTES


def fit_event(event: OutgoingEvent, partition: str) -> OutgoingEvent:
    """The event, cut until it fits (unchanged when it already does)."""
    if fits(event, partition):
        return event
    detail = copy.deepcopy(event.detail)
    for cut in CUTS:
        cut(detail)
        resized = _with_detail(event, detail)
        if fits(resized, partition):
            return resized
    raise AssertionError("the last cut always fits")  # pragma: no cover


def _with_detail(event: OutgoingEvent, detail: Detail) -> OutgoingEvent:
    entry = {**event.eventbridge_entry, "Detail": dump_detail(detail)}
    return replace(event, detail=copy.deepcopy(detail), eventbridge_entry=entry)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SHORT_CHARS:
        return value[: SHORT_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return value


def _mark(detail: Detail, part: str) -> None:
    if part not in detail["truncated"]:
        detail["truncated"].append(part)


def _tag_values(detail: Detail) -> None:
    for where in ("image", "previous"):
        tags = (detail.get(where) or {}).get("Tags")
        if isinstance(tags, dict) and any(len(str(v)) > SHORT_CHARS for v in tags.values()):
            (detail[where] or {})["Tags"] = {k: _short(v) for k, v in tags.items()}
            _mark(detail, f"{where}.Tags")


def _descriptions(detail: Detail) -> None:
    for where in ("image", "previous"):
        part = detail.get(where) or {}
        if isinstance(part.get("Description"), str) and len(part["Description"]) > SHORT_CHARS:
            part["Description"] = _short(part["Description"])
            _mark(detail, f"{where}.Description")


def _previous(detail: Detail) -> None:
    if detail.get("previous") is not None:
        detail["previous"] = None  # changedFields still names what changed
        _mark(detail, "previous")


def _usage_arns(detail: Detail) -> None:
    usage = detail.get("usage")
    if usage and usage.get("resources"):
        usage["resources"], usage["truncated"] = [], True
        _mark(detail, "usage.resources")


def _tag_keys(detail: Detail) -> None:
    tags = detail["image"].get("Tags")
    if tags:
        detail["image"]["Tags"] = {}
        _mark(detail, "image.Tags")


def _image(detail: Detail) -> None:
    image = detail["image"]
    detail["image"] = {name: (_short(value) if name in IDENTITY_FIELDS else None)
                       for name, value in image.items()}  # fmt: skip
    detail["image"]["ImageId"] = image["ImageId"]
    _mark(detail, "image")


# Largest and least needed first: tag values, descriptions, previous values, usage ARNs, the
# tags themselves, and at last everything of the image but who, what and which state.
CUTS: tuple[Callable[[Detail], None], ...] = (
    _tag_values, _descriptions, _previous, _usage_arns, _tag_keys, _image,
)  # fmt: skip
