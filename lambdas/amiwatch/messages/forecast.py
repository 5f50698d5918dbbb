"""The forecast as subscribers receive it (pure): one `AMI Forecast` event per target, and for
people one email and one chat message per run that list the rows of every target of the watch,
most urgent first, capped (the events hold every row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from amiwatch.judge.forecast import DEPRECATED, DISALLOWED, FIX_OVERDUE, Horizon, forecast_id
from amiwatch.judge.usage import listed
from amiwatch.messages.budget import ENVELOPE_BYTES, LIMIT_BYTES, eventbridge_bytes
from amiwatch.messages.chat import custom_notification, escape_markdown
from amiwatch.messages.facts import short
from amiwatch.messages.sns import DIGEST, FORECAST, string_attribute
from amiwatch.model.contract import (
    EVENT_VERSION,
    FORECAST_DETAIL_TYPE,
    SOURCE,
    Target,
    dump_detail,
)
from amiwatch.model.records import format_time, parse_time
from amiwatch.model.watches import Watch

DETAIL_TYPE = FORECAST_DETAIL_TYPE
MAX_EVENT_ROWS = 100  # rows in one target's event (rowsTotal counts them all)
PEOPLE_ROWS = 25  # rows in the run's email and chat message
URGENT_DAYS = 7  # a row due this soon (or overdue) makes the chat message CRITICAL
# What a row's event kind will be when it happens: the filter word for subscribers.
AS_CHANGE = {DEPRECATED: "deprecated", DISALLOWED: "disallowed", FIX_OVERDUE: "vulnerable"}
WORDS = {DEPRECATED: "deprecated", DISALLOWED: "no longer allowed", FIX_OVERDUE: "fix overdue"}


def forecast_event(
    target: Target,
    period: str,
    now: datetime,
    horizon: Horizon,
    watch: Watch,
    rows: Sequence[Mapping[str, Any]],
    bus_name: str,
    allowed: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One target's forecast: its detail and PutEvents entry, within EventBridge's 256 KiB
    (rows beyond what fits are left out; `rowsTotal` and `truncated` say so)."""
    kept = min(len(rows), MAX_EVENT_ROWS)
    span = {
        "days": horizon.days,
        "until": format_time(horizon.end(now)),
        "fixGraceDays": horizon.fix_grace_days,
        "vulnerableAt": watch.vulnerable_at,
    }
    while True:
        detail = {
            "version": EVENT_VERSION,
            "eventId": forecast_id(target, period),
            "watch": target.watch,
            "account": target.account,
            "region": target.region,
            "period": period,
            "generatedAt": format_time(now),
            "horizon": span,
            "rows": [dict(r) for r in rows[:kept]],
            "rowsTotal": len(rows),
            "truncated": kept < len(rows),
            "allowedImages": dict(allowed) if allowed is not None else None,
        }
        arns = dict.fromkeys(target.image_arn(r["image"]["ImageId"]) for r in rows[:kept])
        entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Resources": list(arns),
                 "Detail": dump_detail(detail), "EventBusName": bus_name, "Time": now}  # fmt: skip
        if eventbridge_bytes(entry) + ENVELOPE_BYTES <= LIMIT_BYTES or kept == 0:
            return detail, entry
        kept //= 2


def people_part(detail: Mapping[str, Any]) -> dict[str, Any]:
    """What one target adds to the run's message for people: its most urgent rows, compact."""
    rows = [
        {
            "account": detail["account"],
            "region": detail["region"],
            "imageId": row["image"]["ImageId"],
            "name": row["image"].get("Name"),
            "happens": row["happens"],
            "at": row["at"],
            "overdue": row["overdue"],
            "why": row["why"],
            "usage": row["usage"],
            "replacement": {k: (row["replacement"] or {}).get(k) for k in ("ImageId", "Name")}
            if row.get("replacement")
            else None,
        }
        for row in detail["rows"][:PEOPLE_ROWS]
    ]
    return {"account": detail["account"], "region": detail["region"],
            "rowsTotal": detail["rowsTotal"], "rows": rows}  # fmt: skip


def merged_rows(parts: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Every target's rows, most urgent first, and how many rows there are in all."""
    rows = [dict(r) for part in parts for r in part.get("rows", [])]
    rows.sort(key=lambda r: (r["at"], r["account"], r["region"], r["imageId"], r["happens"]))
    return rows, sum(int(part.get("rowsTotal", 0)) for part in parts)


def run_id(watch: str, period: str) -> str:
    return hashlib.sha256(f"forecast-run|{watch}|{period}".encode()).hexdigest()[:32]


def forecast_email(
    watch: str, period: str, horizon: Horizon, parts: Sequence[Mapping[str, Any]], bus_name: str
) -> str:
    """The run's email: the most urgent rows of every target, then where the rest are."""
    rows, total = merged_rows(parts)
    head = f"AMI forecast for watch {watch}: "
    if not total:
        return (head + f"nothing in use is due within {horizon.days} days "
                f"({len(parts)} targets checked, period {period}).\n")  # fmt: skip
    targets = f"{len(parts)} target" + ("s" if len(parts) != 1 else "")
    lines = [head + f"{total} due within {horizon.days} days across {targets} "
             "(most urgent first).", ""]  # fmt: skip
    for row in rows[:PEOPLE_ROWS]:
        lines += [_row_line(row), f"    {row['why']}", f"    {_usage_text(row)}"]
        if row.get("replacement"):
            move = row["replacement"]
            lines.append(f"    Move to {move.get('Name') or 'unnamed'} ({move['ImageId']}).")
    if total > len(rows[:PEOPLE_ROWS]):
        lines += ["", f"...and {total - len(rows[:PEOPLE_ROWS])} more."]
    lines += [
        "",
        f'Every target\'s full list is an "{DETAIL_TYPE}" event on the EventBridge bus '
        f'"{bus_name}".',
        "Not foreseen: an instance launched from an image after this forecast, a criterion edited",
        "after it, a deprecation time set or moved after the last run.",
    ]
    return "\n".join(lines) + "\n"


def _row_line(row: Mapping[str, Any]) -> str:
    when = "overdue since " + row["at"][:10] if row["overdue"] else row["at"][:10]
    name = short(row.get("name") or "unnamed", 60)
    return (f"- {when}  {WORDS[row['happens']]}: {name} ({row['imageId']}) in "
            f"{row['account']} / {row['region']}")  # fmt: skip


def _usage_text(row: Mapping[str, Any]) -> str:
    usage = row["usage"]
    counts = listed(usage["byType"]) if usage["byType"] else ""
    if usage.get("error"):
        found = f"found so far: {counts}; " if counts else ""
        return f"Usage not fully known ({found}{usage['error']})."
    return f"Used by {counts}."


def forecast_topic_entry(
    watch: str, period: str, horizon: Horizon, parts: Sequence[Mapping[str, Any]], bus_name: str
) -> dict[str, Any]:
    """The run's message on the topic: reaches people like a digest (delivery "digest"), and
    says what the rows will become (`digest_changes`) for their filter policies."""
    rows, total = merged_rows(parts)
    summary = {"version": EVENT_VERSION, "forecastId": run_id(watch, period), "change": FORECAST,
               "watch": watch, "period": period, "days": horizon.days, "targets": len(parts),
               "rowsTotal": total, "rows": rows[:PEOPLE_ROWS]}  # fmt: skip
    message = {"default": json.dumps(summary, separators=(",", ":"), ensure_ascii=False),
               "email": forecast_email(watch, period, horizon, parts, bus_name)}  # fmt: skip
    changes = sorted({AS_CHANGE[r["happens"]] for r in rows})
    subject = f"[amiwatch] AMI forecast: {total} due within {horizon.days} days in {watch}"
    return {
        "Id": run_id(watch, period),
        "Message": json.dumps(message, ensure_ascii=False),
        "MessageStructure": "json",
        "Subject": subject[:100],
        "MessageAttributes": {
            "change": string_attribute(FORECAST),
            "delivery": string_attribute(DIGEST),
            "watch": string_attribute(watch),
            "digest_changes": {"DataType": "String.Array", "StringValue": json.dumps(changes)},
        },
    }


def forecast_chat_entry(
    watch: str, period: str, now: datetime, horizon: Horizon, parts: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The run's chat message (a custom notification)."""
    rows, total = merged_rows(parts)
    urgent = any(r["overdue"] or _days_until(r["at"], now) <= URGENT_DAYS for r in rows)
    severity = "INFO" if not total else "CRITICAL" if urgent else "WARNING"
    lines = [escape_markdown(_row_line(r)) for r in rows[:PEOPLE_ROWS]]
    if total > len(lines):
        lines.append(f"...and {total - len(lines)} more (the {DETAIL_TYPE} events list them).")
    steps = ["Move what runs these images before the dates shown; overdue rows need it now."]
    title = (f"{severity}: AMI forecast: {total} in use due within {horizon.days} days "
             f"in watch {watch}")  # fmt: skip
    notification = custom_notification(
        notification_id=run_id(watch, period),
        title=title,
        description="\n".join(lines) or f"Nothing in use is due ({format_time(now)[:10]}).",
        next_steps=steps if total else [],
        keywords=[severity, FORECAST, watch],
        metadata={
            "threadId": f"amiwatch-forecast-{watch}",
            "summary": f"AMI forecast: {total} due in watch {watch}",
            "eventType": "amiwatch-forecast",
            "relatedResources": [],
            "additionalContext": {"watch": watch, "period": period, "rows": str(total)},
        },
    )
    return {"Id": run_id(watch, period), "Message": json.dumps(notification)}


def _days_until(moment: str, now: datetime) -> float:
    when = parse_time(moment)
    return (when - now).total_seconds() / 86400 if when else 0.0
