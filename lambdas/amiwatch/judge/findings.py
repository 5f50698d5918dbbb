"""Vulnerable AMIs: when Amazon Inspector's summary of an image (ScanResults) is news (pure).

`vulnerable` is reported once when the highest severity reaches the watch's `vulnerableAt` from
below or from none, when it rises further, or when a fix becomes available for a severity at or
above it; a fall below the threshold is an ordinary `updated`, and a rescan that only moves the
scan date is nothing (records.comparable). The `findings` detail joins GetImageFindings' top
findings when they could be read within the run's lookup time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from amiwatch.judge.outcomes import make_change
from amiwatch.model.contract import Change, ChangeKind
from amiwatch.model.records import SCAN_DATE, SEVERITY_LABELS, ImageRecord, capped
from amiwatch.model.watches import Watch

RANK = {label: n for n, label in enumerate(SEVERITY_LABELS)}
FIX_FIELDS = {label: f"{label.capitalize()}FixAvailableSince" for label in SEVERITY_LABELS}
TOP_FINDINGS = 5


def scan_results(fields: Mapping[str, Any] | None) -> Mapping[str, Any]:
    value = (fields or {}).get("ScanResults")
    return value if isinstance(value, Mapping) else {}


def highest(fields: Mapping[str, Any] | None) -> str | None:
    """The highest finding severity (EC2's SeverityLabel), None when not scanned or clean."""
    label = scan_results(fields).get("HighestFindingSeverityLabel")
    return label if label in RANK else None


def rank(label: str | None) -> int:
    return RANK.get(label or "", -1)


def is_vulnerable(watch: Watch, fields: Mapping[str, Any] | None) -> bool:
    """Has the image findings at or above the watch's threshold?"""
    return rank(highest(fields)) >= RANK[watch.vulnerable_at]


def fixes_at_or_above(fields: Mapping[str, Any] | None, threshold: str) -> dict[str, Any]:
    """Severity -> since when a fix is available, for the severities at or above `threshold`."""
    scan = scan_results(fields)
    return {label: scan[FIX_FIELDS[label]] for label in SEVERITY_LABELS
            if RANK[label] >= RANK[threshold] and scan.get(FIX_FIELDS[label])}  # fmt: skip


def vulnerable_change(
    watch: Watch, record: ImageRecord, before: Mapping[str, Any] | None, revision: int
) -> Change | None:
    """The `vulnerable` change this record is news for (`before`: the stored fields, None at
    first sight), or None."""
    if not is_vulnerable(watch, record.fields):
        return None
    now_label, fixes = highest(record.fields), fixes_at_or_above(record.fields, watch.vulnerable_at)
    if before is not None:
        was = highest(before)
        new_fix = set(fixes) - set(fixes_at_or_above(before, watch.vulnerable_at))
        if rank(was) >= RANK[watch.vulnerable_at] and rank(now_label) <= rank(was) and not new_fix:
            return None
    discriminator = f"{now_label}|{','.join(sorted(fixes))}"
    previous = {"ScanResults": scan_results(before) or None} if before is not None else None
    return make_change(ChangeKind.VULNERABLE, record, "findings", revision, discriminator,
                       previous, ("ScanResults",))  # fmt: skip


def findings_detail(
    record: ImageRecord, findings: Sequence[Mapping[str, Any]] | None, error: str | None
) -> dict[str, Any]:
    """The event detail's `findings`: the summary, and the top findings when they were read."""
    scan = scan_results(record.fields)
    ranked = sorted(findings or [], key=_ranking)
    fixes = {label: scan[FIX_FIELDS[label]] for label in SEVERITY_LABELS
             if scan.get(FIX_FIELDS[label])}  # fmt: skip
    top = [{"title": _title(f), "severity": _label(f), "score": f.get("Score"),
            "fixAvailable": f.get("FixAvailable")} for f in ranked[:TOP_FINDINGS]]  # fmt: skip
    return {
        "highestSeverity": highest(record.fields),
        "scanDate": scan.get(SCAN_DATE),
        "fixAvailableSince": fixes,
        "top": top,
        "truncated": len(ranked) > TOP_FINDINGS,
        "error": error,
    }


def _ranking(finding: Mapping[str, Any]) -> tuple[int, float, str]:
    """Most severe first, then highest score."""
    return (-rank(_label(finding)), -float(finding.get("Score") or 0.0),
            str(finding.get("Title") or ""))  # fmt: skip


def _title(finding: Mapping[str, Any]) -> str | None:
    title = finding.get("Title")
    return capped(title) if isinstance(title, str) else None


def _label(finding: Mapping[str, Any]) -> str | None:
    label = finding.get("SeverityLabel")
    return label if label in RANK else None
