"""The JSON Schema (draft 4) of the `AMI Forecast` event detail: one target's forecast.

docs/schemas/amiwatch-forecast-v1.json is the rendered copy
(`python -m amiwatch.model.forecast_schema > docs/schemas/amiwatch-forecast-v1.json`, checked by
a test); the stack's schema registry holds it as `amiwatch@AMIForecast`.
"""

from __future__ import annotations

import json
from typing import Any

from amiwatch.model.contract import EVENT_VERSION, FORECAST_DETAIL_TYPE, SOURCE
from amiwatch.model.records import SEVERITY_LABELS
from amiwatch.model.schema import ENVELOPE, NULLABLE_STRING, REPLACEMENT, schema_name

HAPPENS = ("deprecated", "disallowed", "fix-overdue")
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}

ROW: dict[str, Any] = {
    "type": "object",
    "required": ["image", "happens", "at", "overdue", "why", "usage", "replacement"],
    "additionalProperties": False,
    "properties": {
        "image": {
            "type": "object",
            "required": ["ImageId", "Name", "OwnerId", "CreationDate", "DeprecationTime"],
            "additionalProperties": False,
            "properties": {"ImageId": {"type": "string", "pattern": "^ami-"},
                           **{k: NULLABLE_STRING for k in ("Name", "OwnerId", "CreationDate",
                                                           "DeprecationTime")}},
        },
        "happens": {"type": "string", "enum": list(HAPPENS),
                    "description": "deprecated: DeprecationTime falls in the horizon; "
                    "disallowed: the target's Allowed AMIs stop admitting it as it ages; "
                    "fix-overdue: a finding at or above vulnerableAt has had a fix for longer "
                    "than fixGraceDays."},
        "at": _TIME,
        "overdue": {"type": "boolean", "description": "`at` is already past (fix-overdue)."},
        "why": {"type": "string"},
        "usage": {
            "type": "object",
            "required": ["total", "byType", "error"],
            "additionalProperties": False,
            "properties": {"total": {"type": ["integer", "null"], "minimum": 0},
                           "byType": {"type": "object",
                                      "additionalProperties": {"type": "integer"}},
                           "error": NULLABLE_STRING},
        },
        "replacement": REPLACEMENT,
    },
}  # fmt: skip


def forecast_schema() -> dict[str, Any]:
    """The schema of an `AMI Forecast` detail."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": f"amiwatch forecast detail, version {EVENT_VERSION}",
        "description": "What will break in one target, and when: the images in use that are due "
        "within the horizon, most urgent first.",
        "type": "object",
        "required": ["version", "eventId", "watch", "account", "region", "period",
                     "generatedAt", "horizon", "rows", "rowsTotal", "truncated", "allowedImages"],
        "additionalProperties": False,
        "properties": {
            "version": {"type": "string", "enum": [EVENT_VERSION]},
            "eventId": {"type": "string", "pattern": "^[0-9a-f]{32}$",
                        "description": "Deterministic per target and period."},
            "watch": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
            "account": {"type": "string", "pattern": "^[0-9]{12}$"},
            "region": {"type": "string"},
            "period": {**_TIME, "description": "The forecast schedule's time for this run."},
            "generatedAt": _TIME,
            "horizon": {
                "type": "object",
                "required": ["days", "until", "fixGraceDays", "vulnerableAt"],
                "additionalProperties": False,
                "properties": {"days": {"type": "integer"}, "until": _TIME,
                               "fixGraceDays": {"type": "integer"},
                               "vulnerableAt": {"type": "string",
                                                "enum": list(SEVERITY_LABELS)}},
            },
            "rows": {"type": "array", "items": ROW, "maxItems": 100},
            "rowsTotal": {"type": "integer", "minimum": 0},
            "truncated": {"type": "boolean",
                          "description": "More rows than the event holds (rowsTotal counts all)."},
            "allowedImages": {
                "type": ["object", "null"],
                "properties": {"state": NULLABLE_STRING, "managedBy": NULLABLE_STRING,
                               "error": NULLABLE_STRING},
                "additionalProperties": False,
            },
        },
    }  # fmt: skip


def forecast_registry_schema() -> dict[str, dict[str, Any]]:
    """The registry's schema of the whole `AMI Forecast` event (envelope + detail)."""
    detail = forecast_schema()
    del detail["$schema"]
    return {
        schema_name(FORECAST_DETAIL_TYPE): {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": f"{SOURCE} {FORECAST_DETAIL_TYPE}",
            "description": "One target's amiwatch forecast, as rules receive it.",
            "type": "object",
            "required": list(ENVELOPE),
            "properties": {
                **ENVELOPE,
                "detail-type": {"type": "string", "enum": [FORECAST_DETAIL_TYPE]},
                "source": {"type": "string", "enum": [SOURCE]},
                "detail": detail,
            },
        }
    }


if __name__ == "__main__":
    print(json.dumps(forecast_schema(), indent=2))
