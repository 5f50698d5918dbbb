"""The canonical image record: a DescribeImages `Image` projected to the fields amiwatch tracks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# The projection: which DescribeImages fields a record holds. Raise PROJECTION whenever a field
# is added (and list it in FIELDS_SINCE): records stored under an older projection lack it, so the
# first run after an upgrade refreshes them without reporting anything (see docs/design.md).
PROJECTION = 3
FIELDS_SINCE = {
    "ProductCodes": 2,
    "SourceInstanceId": 2,
    "FreeTierEligible": 2,
    "PublicSsmParameterName": 2,
    "ScanResults": 3,
}

# DescribeImages field names, in the order they appear in events.
CANONICAL_FIELDS = (
    "ImageId",
    "Name",
    "Description",
    "OwnerId",
    "ImageOwnerAlias",
    "State",
    "StateReason",
    "CreationDate",
    "DeprecationTime",
    "Public",
    "Architecture",
    "ImageType",
    "Platform",
    "PlatformDetails",
    "UsageOperation",
    "RootDeviceType",
    "VirtualizationType",
    "Hypervisor",
    "EnaSupport",
    "BootMode",
    "TpmSupport",
    "ImdsSupport",
    "SourceImageId",
    "SourceImageRegion",
    "DeregistrationProtection",
    "ImageAllowed",
    "LastLaunchedTime",
    "ProductCodes",
    "SourceInstanceId",
    "FreeTierEligible",
    "PublicSsmParameterName",
    "ScanResults",
    "Tags",
)
# Amazon Inspector's summary of an image's findings (DescribeImages `ScanResults`). A rescan that
# only moves FindingScanDate says nothing new: it is left out of digests and comparisons.
SCAN_RESULT_FIELDS = (
    "HighestFindingSeverityLabel",
    "FindingScanDate",
    "InformationalFixAvailableSince",
    "LowFixAvailableSince",
    "MediumFixAvailableSince",
    "HighFixAvailableSince",
    "CriticalFixAvailableSince",
)
SCAN_DATE = "FindingScanDate"
# EC2's SeverityLabel (ScanResults.HighestFindingSeverityLabel), lowest first.
SEVERITY_LABELS = ("informational", "low", "medium", "high", "critical")

# Real values are far shorter (Description <= 255, tag values <= 256); the cap keeps one absurd
# record from pushing an event past EventBridge's 256 KB entry limit.
MAX_STRING_CHARS = 2048
TRUNCATION_MARK = "...[truncated]"

FAILED_STATES = frozenset({"failed", "error", "invalid"})
_STRUCTURED = {"StateReason", "Tags", "ProductCodes", "ScanResults"}
_SCALAR_FIELDS = tuple(f for f in CANONICAL_FIELDS if f not in _STRUCTURED)


def capped(value: str) -> str:
    """A string at most MAX_STRING_CHARS long, marked when it was cut."""
    if len(value) <= MAX_STRING_CHARS:
        return value
    return value[: MAX_STRING_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_STRING_CHARS else capped(value)
    if value is None or kind is bool or kind is int or kind is float:
        return value
    if isinstance(value, datetime):
        return format_time(value)
    return capped(str(value))


def _state_reason(value: Any) -> dict[str, str | None] | None:
    if not isinstance(value, dict):
        return None
    code, message = value.get("Code"), value.get("Message")
    if code is None and message is None:
        return None
    return {"Code": _scalar(code), "Message": _scalar(message)}


def _tags(value: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    if not isinstance(value, list):
        return tags
    for tag in value:
        if type(tag) is dict and type(tag.get("Key")) is str:
            tags[capped(tag["Key"])] = capped(str(tag.get("Value", "")))
    return dict(sorted(tags.items()))


def _product_codes(value: Any) -> list[dict[str, str]]:
    codes = []
    if isinstance(value, list):
        for code in value:
            if type(code) is dict and type(code.get("ProductCodeId")) is str:
                kind = code.get("ProductCodeType")
                codes.append({"ProductCodeId": capped(code["ProductCodeId"]),
                              "ProductCodeType": capped(str(kind)) if kind else ""})  # fmt: skip
    return sorted(codes, key=lambda c: (c["ProductCodeId"], c["ProductCodeType"]))


def _scan_results(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    summary = {name: _scalar(value.get(name)) for name in SCAN_RESULT_FIELDS}
    return summary if any(v is not None for v in summary.values()) else None


def projected_fields(projection: int) -> tuple[str, ...]:
    """The canonical fields a record made under `projection` holds, in canonical order."""
    return tuple(f for f in CANONICAL_FIELDS if FIELDS_SINCE.get(f, 1) <= projection)


@dataclass(frozen=True)
class ImageRecord:
    """One image as amiwatch sees it: every field of its projection present (None when AWS omits
    it). `projection` says which fields it was made with (records.PROJECTION for fresh ones)."""

    fields: Mapping[str, Any]
    projection: int = PROJECTION

    @property
    def image_id(self) -> str:
        return str(self.fields["ImageId"])

    @property
    def state(self) -> str | None:
        state = self.fields.get("State")
        return state if isinstance(state, str) else None

    @property
    def name(self) -> str | None:
        name = self.fields.get("Name")
        return name if isinstance(name, str) else None

    @property
    def deprecation_time(self) -> datetime | None:
        """DeprecationTime parsed; None when unset or unreadable."""
        return parse_time(self.fields.get("DeprecationTime"))

    def as_dict(self) -> dict[str, Any]:
        """A plain JSON-ready copy of every canonical field (None where an older projection
        did not record it)."""
        complete = {name: self.fields.get(name) for name in CANONICAL_FIELDS}
        return json.loads(json.dumps(complete))  # type: ignore[no-any-return]

    def digest(self, ignore_fields: Collection[str]) -> bytes:
        """8 bytes that change whenever a tracked (not ignored) field changes."""
        tracked = {k: v for k, v in self.fields.items() if k not in ignore_fields}
        if tracked.get("ScanResults"):
            tracked["ScanResults"] = comparable("ScanResults", tracked["ScanResults"])
        canonical = json.dumps(tracked, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=8).digest()


def comparable(name: str, value: Any) -> Any:
    """A field's value as changes are judged: ScanResults without its FindingScanDate."""
    if name == "ScanResults" and isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != SCAN_DATE}
    return value


def record_from_fields(fields: Mapping[str, Any], projection: int) -> ImageRecord:
    """Rebuild a record from stored fields (kept as stored, even from an older projection)."""
    return ImageRecord(MappingProxyType(dict(fields)), projection)


def project_image(raw: Mapping[str, Any], projection: int | None = None) -> ImageRecord | None:
    """Project a DescribeImages `Image` to the canonical record; None if it has no ImageId.

    `projection` defaults to the current PROJECTION (read at call time, so an upgrade test can
    make records the way an older version did).
    """
    image_id = raw.get("ImageId")
    if not isinstance(image_id, str) or not image_id:
        return None
    projection = PROJECTION if projection is None else projection
    fields = {name: _scalar(raw.get(name)) for name in _SCALAR_FIELDS}
    fields["StateReason"] = _state_reason(raw.get("StateReason"))
    fields["Tags"] = _tags(raw.get("Tags"))
    fields["ProductCodes"] = _product_codes(raw.get("ProductCodes"))
    fields["ScanResults"] = _scan_results(raw.get("ScanResults"))
    # Keep the canonical order: events and digests read the fields in it.
    names = projected_fields(projection)
    return ImageRecord(MappingProxyType({name: fields[name] for name in names}), projection)


def parse_time(value: Any) -> datetime | None:
    """Parse an AWS timestamp ("2026-11-27T13:00:00.000Z") to an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, second precision: the form used in events."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
