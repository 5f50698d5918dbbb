"""Allowed AMIs: would a target account's criteria let it launch an image (pure).

As the EC2 User Guide ("How Allowed AMIs works") evaluates them: within a parameter
(ImageProviders, ImageNames, MarketplaceProductCodes) any value may match; an ImageCriterion
matches when all its parameters match; the ImageCriteria allow an image that matches any
criterion. The account's own images are never restricted. A parameter the record cannot answer
(ImageWatermarks; ScanResultCondition's MaxDaysSinceLastFindingScan, since Amazon Inspector
rescans without the record changing; any ScanResultCondition on a record stored before scan
results were tracked) makes that criterion unknown: the verdict is then None, never a guess.

`allowed_until` is the same evaluation run forward in time: the moment an image allowed now
stops being allowed as it ages (creation date, time since deprecation, time since a fix became
available), with nothing else changing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from amiwatch.model.records import SEVERITY_LABELS, ImageRecord, parse_time

ENABLED, AUDIT_MODE, DISABLED = "enabled", "audit-mode", "disabled"
# ImageProviders aliases: what ImageOwnerAlias says of an image they admit.
PROVIDER_ALIASES = frozenset({"amazon", "aws-marketplace", "aws-backup-vault"})
OWN_ONLY = "none"  # only the account's own images (which are never restricted anyway)
SCAN = "ScanResults"
SCAN_AGE = "MaxDaysSinceLastFindingScan"


@dataclass(frozen=True)
class Criterion:
    """One ImageCriterion; an empty tuple or None means the parameter is not set."""

    providers: tuple[str, ...] = ()
    product_codes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    max_days_since_created: int | None = None
    max_days_since_deprecated: int | None = None
    max_severity: str | None = None  # ScanResultCondition.MaximumSeverityLabel
    max_days_since_fix: tuple[tuple[str, int], ...] = ()  # (severity, MaxDaysSince<it>FixAvailable)
    unevaluable: tuple[str, ...] = ()  # parameters set that a record cannot answer


@dataclass(frozen=True)
class AllowedImages:
    """A target account's Allowed AMIs settings in one region, or why they are unknown."""

    state: str | None  # enabled | audit-mode | disabled; None when they could not be read
    criteria: tuple[Criterion, ...] = ()
    managed_by: str | None = None  # "account" or "declarative-policy"
    error: str | None = None

    @property
    def enforced(self) -> bool:
        return self.state == ENABLED

    def summary(self) -> dict[str, Any]:
        """The run summary's `allowedImages`."""
        return {"state": self.state, "managedBy": self.managed_by, "error": self.error}


def settings_from(answer: Mapping[str, Any]) -> AllowedImages:
    """A GetAllowedImagesSettings answer as data."""
    criteria = tuple(_criterion(c) for c in answer.get("ImageCriteria") or [])
    return AllowedImages(answer.get("State"), criteria, answer.get("ManagedBy"))


def _criterion(raw: Mapping[str, Any]) -> Criterion:
    created = (raw.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    deprecated = (raw.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    scan = raw.get("ScanResultCondition") or {}
    limits = {label: scan.get(f"MaxDaysSince{label.capitalize()}FixAvailable")
              for label in SEVERITY_LABELS}  # fmt: skip
    fixes = tuple((label, days) for label, days in limits.items() if days is not None)
    unevaluable: tuple[str, ...] = ("ImageWatermarks",) if raw.get("ImageWatermarks") else ()
    unevaluable += (f"ScanResultCondition.{SCAN_AGE}",) if scan.get(SCAN_AGE) is not None else ()
    return Criterion(
        providers=tuple(raw.get("ImageProviders") or ()),
        product_codes=tuple(raw.get("MarketplaceProductCodes") or ()),
        names=tuple(raw.get("ImageNames") or ()),
        max_days_since_created=created,
        max_days_since_deprecated=deprecated,
        max_severity=str(scan["MaximumSeverityLabel"]).lower()
        if scan.get("MaximumSeverityLabel")
        else None,
        max_days_since_fix=fixes,
        unevaluable=unevaluable,
    )


def is_allowed(
    record: ImageRecord, criteria: Iterable[Criterion], account: str, now: datetime
) -> bool | None:
    """True: some criterion admits the image; False: none does; None: it cannot be told."""
    if record.fields.get("OwnerId") == account:
        return True
    verdicts = [_matches(record, criterion, now) for criterion in criteria]
    if any(v is True for v in verdicts):
        return True
    return False if all(v is False for v in verdicts) else None


def _matches(record: ImageRecord, criterion: Criterion, now: datetime) -> bool | None:
    checks = [
        _any_provider(record, criterion.providers) if criterion.providers else True,
        _any_product(record, criterion.product_codes) if criterion.product_codes else True,
        _any_name(record, criterion.names) if criterion.names else True,
        _within(record.fields.get("CreationDate"), criterion.max_days_since_created, now),
        _not_deprecated_for(record, criterion.max_days_since_deprecated, now),
        *_scan_checks(record, criterion, now),
    ]
    if any(c is False for c in checks):
        return False
    if criterion.unevaluable or any(c is None for c in checks):
        return None
    return True


def _any_provider(record: ImageRecord, providers: tuple[str, ...]) -> bool:
    alias, owner = record.fields.get("ImageOwnerAlias"), record.fields.get("OwnerId")
    return any(
        (p in PROVIDER_ALIASES and p == alias) or (p not in PROVIDER_ALIASES and p == owner)
        for p in providers
        if p != OWN_ONLY
    )


def _any_product(record: ImageRecord, codes: tuple[str, ...]) -> bool:
    held = {c.get("ProductCodeId") for c in record.fields.get("ProductCodes") or []}
    return bool(held & set(codes))


def _any_name(record: ImageRecord, patterns: tuple[str, ...]) -> bool | None:
    name = record.fields.get("Name")
    if not isinstance(name, str):
        return None
    return any(_pattern(p).fullmatch(name) for p in patterns)


@cache
def _pattern(wildcards: str) -> re.Pattern[str]:
    # `*` any run of characters, `?` exactly one; everything else literally (brackets too).
    return re.compile("".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcards
    ), re.DOTALL)  # fmt: skip


def _within(moment: Any, days: int | None, now: datetime) -> bool | None:
    if days is None:
        return True
    start = parse_time(moment)
    return None if start is None else now <= start + timedelta(days=days)


def _not_deprecated_for(record: ImageRecord, days: int | None, now: datetime) -> bool | None:
    if days is None or record.deprecation_time is None:
        return True  # not deprecated (yet): the condition only limits time since deprecation
    return now <= record.deprecation_time + timedelta(days=days)


def _scan_checks(record: ImageRecord, criterion: Criterion, now: datetime) -> list[bool | None]:
    if criterion.max_severity is None and not criterion.max_days_since_fix:
        return []
    if SCAN not in record.fields:
        return [None]  # stored before scan results were tracked
    scan = record.fields[SCAN]
    if not isinstance(scan, Mapping):
        return [False]  # "AMIs that Amazon Inspector has not scanned are not allowed"
    checks: list[bool | None] = []
    if criterion.max_severity in SEVERITY_LABELS:
        highest = scan.get("HighestFindingSeverityLabel")
        rank = SEVERITY_LABELS.index(highest) if highest in SEVERITY_LABELS else -1
        checks.append(rank <= SEVERITY_LABELS.index(criterion.max_severity))
    for label, days in criterion.max_days_since_fix:
        since = scan.get(f"{label.capitalize()}FixAvailableSince")
        checks.append(True if since is None else _within(since, days, now))
    return checks


def _deadlines(record: ImageRecord, criterion: Criterion) -> list[datetime | None]:
    """When each of the criterion's conditions on age stops matching (None: cannot be told)."""
    ends: list[datetime | None] = []
    if criterion.max_days_since_created is not None:
        created = parse_time(record.fields.get("CreationDate"))
        ends.append(created and created + timedelta(days=criterion.max_days_since_created))
    if criterion.max_days_since_deprecated is not None and record.deprecation_time is not None:
        ends.append(record.deprecation_time + timedelta(days=criterion.max_days_since_deprecated))
    scan = record.fields.get(SCAN)
    if not isinstance(scan, Mapping):
        return ends
    for label, days in criterion.max_days_since_fix:
        since = parse_time(scan.get(f"{label.capitalize()}FixAvailableSince"))
        ends += [since + timedelta(days=days)] if since else []
    return ends


def allowed_until(
    record: ImageRecord, criteria: Iterable[Criterion], account: str, now: datetime
) -> tuple[datetime, Criterion] | None:
    """When an image allowed now stops being allowed, and the criterion that admitted it last;
    None when it is not allowed now, never stops being, or that cannot be told (an unknown
    criterion might admit it for longer)."""
    if record.fields.get("OwnerId") == account:
        return None
    criteria = list(criteria)
    verdicts = [_matches(record, criterion, now) for criterion in criteria]
    if None in verdicts or True not in verdicts:
        return None
    last: tuple[datetime, Criterion] | None = None
    for criterion, verdict in zip(criteria, verdicts, strict=True):
        if not verdict:
            continue
        ends = _deadlines(record, criterion)
        if not ends or None in ends:
            return None  # admitted for good, or for how long cannot be told
        end = min(e for e in ends if e is not None)
        if last is None or end > last[0]:
            last = (end, criterion)
    return last


@dataclass(frozen=True)
class Visibility:
    """What judging a vanished image needs to know of the target: whose account it is, and its
    Allowed AMIs settings (None when they were not needed, so not read)."""

    account: str
    allowed: AllowedImages | None = None
