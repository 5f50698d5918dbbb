"""The JSON Schema (draft 4, as EventBridge's schema registry wants) of the event detail.

Generated from the same models the code uses; docs/schemas/ holds the rendered copy
(`python -m amiwatch.model.schema > docs/schemas/amiwatch-event-v1.json`, checked by a test).
"""

from __future__ import annotations

import json
from typing import Any

from amiwatch.model.contract import (
    DETAIL_TYPES,
    EVENT_VERSION,
    REASONS,
    SOURCE,
    TEST_CHANGE,
    TEST_DETAIL_TYPE,
    ChangeKind,
)
from amiwatch.model.records import CANONICAL_FIELDS, SCAN_RESULT_FIELDS, SEVERITY_LABELS

# What amiwatch.messages.budget may cut, as named in an event's `truncated`.
TRUNCATABLE = (
    "image.Tags", "previous.Tags", "image.Description", "previous.Description", "previous",
    "usage.resources", "image",
)  # fmt: skip

NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_STRING = NULLABLE_STRING
_BOOLEAN_FIELDS = ("Public", "EnaSupport", "ImageAllowed", "FreeTierEligible")


def _image_field(name: str) -> dict[str, Any]:
    if name == "ImageId":
        return {"type": "string", "pattern": "^ami-"}
    if name in _BOOLEAN_FIELDS:
        return {"type": ["boolean", "null"]}
    if name == "StateReason":
        return {
            "type": ["object", "null"],
            "properties": {"Code": _NULLABLE_STRING, "Message": _NULLABLE_STRING},
            "additionalProperties": False,
        }
    if name == "Tags":
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if name == "ScanResults":
        return {
            "type": ["object", "null"],
            "properties": {f: _NULLABLE_STRING for f in SCAN_RESULT_FIELDS},
            "additionalProperties": False,
        }
    if name == "ProductCodes":
        return {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {
                    "ProductCodeId": {"type": "string"},
                    "ProductCodeType": {"type": "string"},
                },
                "additionalProperties": False,
            },
        }
    return dict(_NULLABLE_STRING)


def event_schema() -> dict[str, Any]:
    """The schema every event detail (and SNS `default` message) validates against."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": f"amiwatch event detail, version {EVENT_VERSION}",
        "description": "The Detail of every amiwatch EventBridge event and the `default` "
        "message of every amiwatch SNS message.",
        "type": "object",
        "required": [
            "version",
            "eventId",
            "change",
            "watch",
            "account",
            "region",
            "detectedAt",
            "image",
            "previous",
            "changedFields",
            "reason",
            "usage",
            "parameter",
            "findings",
            "replacement",
            "truncated",
        ],
        "additionalProperties": False,
        "properties": {
            "version": {"type": "string", "enum": [EVENT_VERSION]},
            "eventId": {
                "type": "string",
                "pattern": "^[0-9a-f]{32}$",
                "description": "Deterministic: the same change detected again has the same id.",
            },
            "change": {"type": "string", "enum": [*(k.value for k in ChangeKind), TEST_CHANGE]},
            "watch": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
            "account": {"type": "string", "pattern": "^[0-9]{12}$"},
            "region": {"type": "string"},
            "detectedAt": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"},
            "image": {
                "oneOf": [_image(), {"type": "null"}],
                "description": "The image as seen; null only in a test alert (change test).",
            },
            "previous": {
                "type": ["object", "null"],
                "description": "Old values of the fields in changedFields; null if none known.",
            },
            "changedFields": {
                "type": "array",
                "items": {"type": "string", "enum": list(CANONICAL_FIELDS)},
            },
            "reason": {"type": "string", "enum": list(REASONS)},
            "usage": USAGE,
            "parameter": PARAMETER,
            "findings": FINDINGS,
            "replacement": REPLACEMENT,
            "truncated": {
                "type": "array",
                "items": {"type": "string", "enum": list(TRUNCATABLE)},
                "description": "What was cut so the event fits AWS's 256 KiB limits (empty "
                "almost always): cut strings end in ...[truncated], a cut `previous` is null, "
                "cut usage ARNs leave the counts. Not part of the eventId.",
            },
        },
    }


def _image() -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(CANONICAL_FIELDS),
        "additionalProperties": False,
        "properties": {name: _image_field(name) for name in CANONICAL_FIELDS},
    }


def schema_name(detail_type: str) -> str:
    """The registry's name for a detail type: `amiwatch@AMIFailed` (discovered-schema style)."""
    return f"{SOURCE}@{detail_type.replace(' ', '')}"


def registry_schemas() -> dict[str, dict[str, Any]]:
    """One draft-4 schema per detail type, of the whole EventBridge event (envelope + detail)."""
    schemas = {}
    kinds = {kind.value: detail_type for kind, detail_type in DETAIL_TYPES.items()}
    for change, detail_type in {**kinds, TEST_CHANGE: TEST_DETAIL_TYPE}.items():
        detail = event_schema()
        del detail["$schema"]
        detail["properties"]["change"] = {"type": "string", "enum": [change]}
        detail["properties"]["image"] = {"type": "null"} if change == TEST_CHANGE else _image()
        schemas[schema_name(detail_type)] = {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": f"{SOURCE} {detail_type}",
            "description": f"An amiwatch event of change {change!r}, as rules receive it.",
            "type": "object",
            "required": list(ENVELOPE),
            "properties": {
                **ENVELOPE,
                "detail-type": {"type": "string", "enum": [detail_type]},
                "source": {"type": "string", "enum": [SOURCE]},
                "detail": detail,
            },
        }
    return schemas


USAGE: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Who still uses the image in the target's account and region (kinds "
    "deprecated, deprecation-scheduled, deprecation-imminent, deregistered, unavailable, "
    "disallowed, vulnerable, disabled, left-watch, and recommended for the previous AMI; null "
    "for the others). Not part of the eventId.",
    "required": ["checkedAt", "account", "region", "total", "byType", "resources", "truncated",
                 "error"],
    "additionalProperties": False,
    "properties": {
        "checkedAt": {"type": "string"},
        "account": {"type": "string"},
        "region": {"type": "string"},
        "total": {"type": ["integer", "null"], "minimum": 0},
        "byType": {"type": "object", "additionalProperties": {"type": "integer"}},
        "resources": {"type": "array", "items": {"type": "string"}, "maxItems": 25},
        "truncated": {"type": "boolean"},
        "error": _NULLABLE_STRING,
    },
}  # fmt: skip
PARAMETER: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "The SSM public parameter that moved (kind recommended; null otherwise).",
    "required": ["name", "version", "lastModified", "previousVersion"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "lastModified": _NULLABLE_STRING,
        "previousVersion": {"type": ["integer", "null"]},
    },
}
SEVERITY = {"type": ["string", "null"], "enum": [*SEVERITY_LABELS, None]}
_SEVERITY = SEVERITY
FINDINGS: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Amazon Inspector's findings (kind vulnerable; null for the others): the "
    "image's ScanResults summary and up to 5 of GetImageFindings, or why they are unknown. Not "
    "part of the eventId.",
    "required": ["highestSeverity", "scanDate", "fixAvailableSince", "top", "truncated", "error"],
    "additionalProperties": False,
    "properties": {
        "highestSeverity": _SEVERITY,
        "scanDate": _NULLABLE_STRING,
        "fixAvailableSince": {"type": "object", "additionalProperties": {"type": "string"}},
        "top": {"type": "array", "maxItems": 5, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["title", "severity", "score", "fixAvailable"],
            "properties": {"title": _NULLABLE_STRING, "severity": _SEVERITY,
                           "score": {"type": ["number", "null"]},
                           "fixAvailable": {"type": ["boolean", "null"]}}}},
        "truncated": {"type": "boolean"},
        "error": _NULLABLE_STRING,
    },
}  # fmt: skip
REPLACEMENT: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "What to move to (kinds vulnerable, deprecated, deprecation-imminent, "
    "deregistered, unavailable, disallowed; null for the others or when there is none): the "
    "newest image of the same watch and target that is available, not deprecated, not "
    "disallowed, below vulnerableAt, with the same architecture and platform, created after "
    "this one; for a parameters watch, the image the parameter names now. Not part of the "
    "eventId.",
    "required": ["ImageId", "Name", "CreationDate", "highestSeverity", "vulnerableAt"],
    "additionalProperties": False,
    "properties": {"ImageId": {"type": "string", "pattern": "^ami-"}, "Name": _NULLABLE_STRING,
                   "CreationDate": _NULLABLE_STRING, "highestSeverity": _SEVERITY,
                   "vulnerableAt": {"type": "string", "enum": list(SEVERITY_LABELS)}},
}  # fmt: skip
ENVELOPE: dict[str, Any] = {
    "version": {"type": "string"},
    "id": {"type": "string"},
    "detail-type": {"type": "string"},
    "source": {"type": "string"},
    "account": {"type": "string", "pattern": "^[0-9]{12}$"},
    "time": {"type": "string", "format": "date-time"},
    "region": {"type": "string"},
    "resources": {"type": "array", "items": {"type": "string"}},
    "detail": {"type": "object"},
}


if __name__ == "__main__":
    print(json.dumps(event_schema(), indent=2))
