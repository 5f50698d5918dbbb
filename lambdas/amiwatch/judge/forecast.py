"""What will break, and when: a target's forecast from its snapshot (pure).

An image is due when, within the horizon, it will be deprecated (DeprecationTime), stop being
allowed under the target's Allowed AMIs criteria as it ages (judge.allowed.allowed_until), or
already has a finding at or above the watch's `vulnerableAt` whose fix has been available for
longer than the grace period. Only images something still uses become rows: the usage of the
due images is looked up afterwards (run.forecast), never for the whole snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from amiwatch.judge.allowed import AllowedImages, Criterion, allowed_until
from amiwatch.judge.findings import fixes_at_or_above, is_vulnerable
from amiwatch.judge.replacement import Candidates
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.records import ImageRecord, format_time, parse_time
from amiwatch.model.watches import Watch

DEPRECATED, DISALLOWED, FIX_OVERDUE = "deprecated", "disallowed", "fix-overdue"
MAX_ERROR_CHARS = 300  # a usage error in a row (the event holds up to 100 rows)
ROW_IMAGE_FIELDS = ("ImageId", "Name", "OwnerId", "CreationDate", "DeprecationTime")


@dataclass(frozen=True)
class Horizon:
    """How far the forecast looks, and how long a fix may wait."""

    days: int = defaults.FORECAST_DAYS
    fix_grace_days: int = defaults.FIX_GRACE_DAYS
    quiet: bool = defaults.FORECAST_QUIET  # nothing due: nothing sent

    def end(self, now: datetime) -> datetime:
        return now + timedelta(days=self.days)


@dataclass(frozen=True)
class Due:
    """One thing that will happen to one image."""

    record: ImageRecord
    happens: str  # deprecated | disallowed | fix-overdue
    at: datetime
    why: str  # what people read


def dues(
    record: ImageRecord,
    watch: Watch,
    allowed: AllowedImages | None,
    account: str,
    now: datetime,
    horizon: Horizon,
) -> list[Due]:
    """What is due for one image of the snapshot (an image that cannot launch is not due)."""
    if record.state != "available":
        return []
    end, found = horizon.end(now), []
    deprecation = record.deprecation_time
    if deprecation is not None and now < deprecation <= end:
        found.append(Due(record, DEPRECATED, deprecation,
                         f"DeprecationTime {format_time(deprecation)}"))  # fmt: skip
    if allowed is not None and allowed.enforced:
        until = allowed_until(record, allowed.criteria, account, now)
        if until is not None and until[0] <= end:
            found.append(Due(record, DISALLOWED, until[0],
                             f"Allowed AMIs: no longer matches {describe(until[1])}"))  # fmt: skip
    overdue = _fix_overdue(record, watch, now, horizon)
    return found + ([overdue] if overdue else [])


def _fix_overdue(record: ImageRecord, watch: Watch, now: datetime, horizon: Horizon) -> Due | None:
    if not is_vulnerable(watch, record.fields):
        return None
    fixes = {
        label: parse_time(since)
        for label, since in fixes_at_or_above(record.fields, watch.vulnerable_at).items()
    }
    known = {label: since for label, since in fixes.items() if since is not None}  # fmt: skip
    if not known:
        return None
    label = min(known, key=lambda k: known[k])
    since = known[label]
    grace_ends = since + timedelta(days=horizon.fix_grace_days)
    if grace_ends > now:
        return None
    why = f"{label.upper()} fix available since {format_time(since)} ({(now - since).days} days)"
    return Due(record, FIX_OVERDUE, grace_ends, why)


def describe(criterion: Criterion) -> str:
    """The Allowed AMIs criterion an image ages out of, as people read it."""
    parts = [f"ImageProviders {', '.join(criterion.providers)}"] if criterion.providers else []
    parts += [f"ImageNames {', '.join(criterion.names)}"] if criterion.names else []
    if criterion.product_codes:
        parts.append(f"MarketplaceProductCodes {', '.join(criterion.product_codes)}")
    if criterion.max_days_since_created is not None:
        parts.append(f"created within {criterion.max_days_since_created} days")
    if criterion.max_days_since_deprecated is not None:
        parts.append(f"deprecated at most {criterion.max_days_since_deprecated} days")
    parts += [f"{label} fix available at most {days} days"
              for label, days in criterion.max_days_since_fix]  # fmt: skip
    if criterion.max_severity is not None:
        parts.append(f"findings at most {criterion.max_severity}")
    return "the criterion " + "; ".join(parts)


def rows(
    due: Iterable[Due],
    usage: Mapping[str, Mapping[str, Any]],
    candidates: Candidates,
    now: datetime,
) -> list[dict[str, Any]]:
    """The forecast's rows, most urgent first: the due images something uses (or whose usage
    could not be checked: such a row says why)."""
    found = []
    for item in sorted(due, key=lambda d: (d.at, d.record.image_id, d.happens)):
        used = usage.get(item.record.image_id)
        if used is None or (used.get("error") is None and not used.get("total")):
            continue
        error = used.get("error")
        found.append({
            "image": {name: item.record.fields.get(name) for name in ROW_IMAGE_FIELDS},
            "happens": item.happens,
            "at": format_time(item.at),
            "overdue": item.at <= now,
            "why": item.why,
            "usage": {"total": used.get("total"), "byType": dict(used.get("byType") or {}),
                      "error": error[:MAX_ERROR_CHARS] if isinstance(error, str) else None},
            "replacement": candidates.for_image(item.record),
        })  # fmt: skip
    return found


def forecast_id(target: Target, period: str) -> str:
    """Deterministic per target and period: the same forecast sent twice has one eventId."""
    parts = ["forecast", target.watch, target.account, target.region, period]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
