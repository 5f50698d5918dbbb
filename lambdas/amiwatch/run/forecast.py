"""One target's forecast over ports: the snapshot's records (no scan), the target's Allowed AMIs
settings, then the usage of the due images only (10 ids a call, within one time budget).
Read-only: nothing is written to the snapshot and no lease is taken."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amiwatch.judge.forecast import Due, Horizon, dues, rows
from amiwatch.judge.replacement import Candidates
from amiwatch.judge.usage import usage_from
from amiwatch.messages.forecast import forecast_event
from amiwatch.model.contract import Target
from amiwatch.model.records import ImageRecord, format_time
from amiwatch.model.watches import Watch
from amiwatch.run.ports import ImageSource

LOOKUP_BUDGET_SECONDS = 60.0  # the usage lookups of one target's forecast


@dataclass
class ForecastResult:
    """What one target's forecast found, and what it cost."""

    target: Target
    images: int = 0  # snapshot records read
    due: int = 0  # images due, in use or not
    rows: list[dict[str, Any]] = field(default_factory=list)
    reference_calls: int = 0
    usage_errors: int = 0  # due images whose usage is not (fully) known
    detail: dict[str, Any] = field(default_factory=dict)
    entry: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "watch": self.target.watch,
            "account": self.target.account,
            "region": self.target.region,
            "images": self.images,
            "due": self.due,
            "rows": len(self.rows),
            "referenceCalls": self.reference_calls,
            "usageErrors": self.usage_errors,
            "seconds": round(self.seconds, 3),
        }


def forecast_target(
    watch: Watch,
    target: Target,
    records: Iterable[ImageRecord],
    images: ImageSource,
    now: datetime,
    horizon: Horizon,
    *,
    period: str,
    bus_name: str,
) -> ForecastResult:
    """The forecast of one target, as its `AMI Forecast` event."""
    started = time.monotonic()
    result = ForecastResult(target)
    allowed = images.allowed_images()
    candidates = Candidates(watch, now)
    due: list[Due] = []
    for record in records:
        result.images += 1
        candidates.offer(record.fields)
        due += dues(record, watch, allowed, target.account, now, horizon)
    ids = list(dict.fromkeys(d.record.image_id for d in due))
    result.due = len(ids)
    usage: dict[str, dict[str, Any]] = {}
    if ids:
        lookup = images.references(ids, time.monotonic() + LOOKUP_BUDGET_SECONDS)
        result.reference_calls = lookup.calls
        result.usage_errors = len(lookup.errors)
        where = {"checked_at": format_time(datetime.now(UTC)), "account": target.account,
                 "region": target.region}  # fmt: skip
        usage = {
            i: usage_from(lookup.references.get(i), lookup.errors.get(i), **where).as_detail()
            for i in ids
        }
    result.rows = rows(due, usage, candidates, now)
    result.detail, result.entry = forecast_event(
        target, period, now, horizon, watch, result.rows, bus_name, allowed.summary()
    )
    result.seconds = time.monotonic() - started
    return result
