"""Vulnerable AMIs: Inspector's ScanResults judged over the real pipeline, with who is hit and
what to move to. GIVEN / WHEN / THEN, one situation each."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from amiwatch.judge.replacement import KEPT_FIELDS, Candidates
from amiwatch.model import records
from amiwatch.model.watch_config import parse_watch

from ..conftest import NOW, Harness, kinds, record

LATER, LATEST = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
OLD, NEW, NEWEST = "ami-00000000000000001", "ami-00000000000000002", "ami-00000000000000003"
INSTANCE = ("ec2:Instance", "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0")


def scan(label: str | None, scanned: str = "2026-11-27T10:00:00Z", **fixes: str) -> dict:
    return {"HighestFindingSeverityLabel": label, "FindingScanDate": scanned, **fixes}


CRITICAL = scan("critical", CriticalFixAvailableSince="2026-11-20T00:00:00Z")
FINDINGS = [
    {"Title": f"CVE-2026-{n:04d} - openssl", "SeverityLabel": label, "Score": score,
     "FixAvailable": True}
    for n, (label, score) in enumerate([("medium", 5.5), ("critical", 9.8), ("high", 7.5),
                                        ("critical", 9.1), ("low", 3.0), ("high", 8.1),
                                        ("informational", 0.0)])
]  # fmt: skip


def image(image_id: str, created: str, **fields: Any):
    return record(image_id, CreationDate=created, **fields)


@pytest.fixture
def fleet(harness: Harness):
    """Three golden images of one architecture, oldest to newest, all clean."""
    images = {
        OLD: image(OLD, "2026-09-01T00:00:00.000Z", Name="golden-2026-09"),
        NEW: image(NEW, "2026-10-01T00:00:00.000Z", Name="golden-2026-10"),
        NEWEST: image(NEWEST, "2026-11-01T00:00:00.000Z", Name="golden-2026-11"),
    }
    harness.run(images.values())
    return images


def rescanned(fleet, image_id: str, results: dict | None) -> list:
    return [record(i, CreationDate=r.fields["CreationDate"], Name=r.fields["Name"],
                   **({"ScanResults": results} if i == image_id else {}))
            for i, r in fleet.items()]  # fmt: skip


def test_an_image_in_use_turning_critical_is_one_vulnerable_with_usage_findings_and_replacement(
    harness, fleet
):
    [change] = harness.run(rescanned(fleet, OLD, CRITICAL), LATER,
                           inspector={OLD: FINDINGS}, used_by={OLD: [INSTANCE]})  # fmt: skip
    [event] = harness.last_events
    detail = event.detail

    assert change.kind.value == "vulnerable" and change.reason == "findings"
    assert detail["changedFields"] == ["ScanResults"]
    assert detail["previous"] == {"ScanResults": None}
    assert detail["usage"]["total"] == 1 and detail["usage"]["byType"] == {"ec2:Instance": 1}
    findings = detail["findings"]
    assert findings["highestSeverity"] == "critical"
    assert findings["scanDate"] == "2026-11-27T10:00:00Z"
    assert findings["fixAvailableSince"] == {"critical": "2026-11-20T00:00:00Z"}
    assert [f["score"] for f in findings["top"]] == [9.8, 9.1, 8.1, 7.5, 5.5]
    assert findings["truncated"] is True and findings["error"] is None
    assert detail["replacement"] == {"ImageId": NEWEST, "Name": "golden-2026-11",
                                     "CreationDate": "2026-11-01T00:00:00.000Z",
                                     "highestSeverity": None,
                                     "vulnerableAt": "high"}  # fmt: skip


def test_unchanged_findings_and_a_rescan_that_only_moves_the_scan_date_are_not_news(harness, fleet):
    harness.run(rescanned(fleet, OLD, CRITICAL), LATER)
    later_scan = {**CRITICAL, "FindingScanDate": "2026-11-28T10:00:00Z"}

    assert harness.run(rescanned(fleet, OLD, CRITICAL), LATEST) == []
    assert harness.run(rescanned(fleet, OLD, later_scan), LATEST + timedelta(hours=1)) == []


def test_a_fix_that_brings_it_below_the_threshold_is_one_updated(harness, fleet):
    harness.run(rescanned(fleet, OLD, CRITICAL), LATER)

    [change] = harness.run(rescanned(fleet, OLD, scan("low")), LATEST)

    assert change.kind.value == "updated"
    assert change.changed_fields == ("ScanResults",)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (scan("medium"), scan("high"), ["vulnerable"]),  # reaches the threshold from below
        (scan("high"), scan("critical"), ["vulnerable"]),  # rises further
        (scan("high"), scan("high", HighFixAvailableSince="2026-11-25T00:00:00Z"),
         ["vulnerable"]),  # a fix becomes available at the threshold
        (scan("critical"), scan("high"), ["updated"]),  # falls, still vulnerable: an update
        (scan("low"), scan("medium"), ["updated"]),  # below the threshold: an update
        (scan("high"), scan("high", LowFixAvailableSince="2026-11-25T00:00:00Z"),
         ["updated"]),  # a fix below the threshold
    ],
)  # fmt: skip
def test_what_is_news_about_findings(harness, fleet, before, after, expected):
    harness.run(rescanned(fleet, OLD, before), LATER)

    assert kinds(harness.run(rescanned(fleet, OLD, after), LATEST)) == expected


def test_the_threshold_is_the_watchs_vulnerable_at():
    harness = Harness(parse_watch({"name": "golden", "owners": ["self"],
                                   "vulnerableAt": "CRITICAL"}))  # fmt: skip
    harness.run([record(OLD)])

    assert kinds(harness.run([record(OLD, ScanResults=scan("high"))], LATER)) == ["updated"]
    assert kinds(harness.run([record(OLD, ScanResults=CRITICAL)], LATEST)) == ["vulnerable"]


def test_a_new_image_already_critical_is_new_and_vulnerable(harness, fleet):
    brand_new = image("ami-00000000000000009", "2026-11-20T00:00:00.000Z", ScanResults=CRITICAL)

    assert kinds(harness.run([*fleet.values(), brand_new], LATER)) == ["new", "vulnerable"]


def test_failed_findings_lookups_deliver_the_event_with_the_error(harness, fleet):
    throttled = "RequestLimitExceeded: Request limit exceeded."

    [change] = harness.run(rescanned(fleet, OLD, CRITICAL), LATER, findings_error=throttled)
    [event] = harness.last_events

    assert change.kind.value == "vulnerable"
    assert event.detail["findings"]["error"] == throttled
    assert event.detail["findings"]["highestSeverity"] == "critical"
    assert event.detail["findings"]["top"] == []
    assert harness.run(rescanned(fleet, OLD, CRITICAL), LATEST) == []  # delivered: not again


def test_the_newest_image_has_no_replacement(harness, fleet):
    harness.run(rescanned(fleet, NEWEST, CRITICAL), LATER)
    [event] = harness.last_events

    assert event.detail["replacement"] is None


def test_a_replacement_is_fit_newer_and_of_the_same_architecture_and_platform(harness, fleet):
    newer_arm = image("ami-0000000000000000a", "2026-11-15T00:00:00.000Z", Architecture="arm64")
    newer_vulnerable = image("ami-0000000000000000b", "2026-11-16T00:00:00.000Z",
                             ScanResults=scan("high"))  # fmt: skip
    newer_deprecated = image("ami-0000000000000000c", "2026-11-17T00:00:00.000Z",
                             DeprecationTime="2026-11-26T00:00:00.000Z")  # fmt: skip
    others = [newer_arm, newer_vulnerable, newer_deprecated]
    harness.run([*fleet.values(), *others], LATER)
    past = "2026-11-27T12:00:00.000Z"

    deprecated = image(OLD, "2026-09-01T00:00:00.000Z", Name="golden-2026-09",
                       DeprecationTime=past)  # fmt: skip

    harness.run([deprecated, fleet[NEW], fleet[NEWEST], *others], LATEST)
    [event] = [e for e in harness.last_events if e.detail["change"] == "deprecated"]

    assert event.detail["replacement"]["ImageId"] == NEWEST


def test_what_a_target_keeps_for_its_next_run_is_small_whatever_its_images_carry():
    candidates = Candidates(parse_watch({"name": "golden", "owners": ["self"]}), NOW)
    tagged = image(NEWEST, "2026-11-01T00:00:00.000Z", Name="golden-2026-11",
                   Description="d" * 255, Tags={f"k{n}": "v" * 256 for n in range(50)})  # fmt: skip
    candidates.offer(tagged.fields)

    [kept] = candidates.kept_for_next().values()

    assert kept["ImageId"] == NEWEST and set(kept) <= set(KEPT_FIELDS)
    assert len(json.dumps(kept)) < 1_000  # 20 of them stay far below DynamoDB's 400 KB item


def test_the_first_run_after_the_upgrade_records_scan_results_silently(harness, monkeypatch):
    monkeypatch.setattr(records, "PROJECTION", 2)
    harness.run([record(OLD)])  # a snapshot written before ScanResults was tracked
    monkeypatch.undo()

    assert harness.run([record(OLD, ScanResults=CRITICAL)], LATER) == []
    assert harness.run([record(OLD, ScanResults=CRITICAL)], LATEST) == []
    assert kinds(harness.run([record(OLD, ScanResults=scan("low"))], LATEST)) == ["updated"]
