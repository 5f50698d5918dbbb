"""What the forecast calls due, and how people read a run of many targets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amiwatch.judge.allowed import settings_from
from amiwatch.judge.forecast import Horizon, dues
from amiwatch.messages.forecast import (
    PEOPLE_ROWS,
    forecast_chat_entry,
    forecast_email,
    merged_rows,
)
from amiwatch.model.records import format_time
from amiwatch.model.watch_config import parse_watch

from ..conftest import NOW, record

WATCH = parse_watch({"name": "golden", "owners": ["self"]})
HORIZON = Horizon(days=30, fix_grace_days=14)


def at(delta: timedelta) -> str:
    return format_time(NOW + delta).replace("Z", ".000Z")


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"DeprecationTime": at(timedelta(days=30))}, ["deprecated"]),  # the horizon's last day
        ({"DeprecationTime": at(timedelta(days=30, seconds=1))}, []),
        ({"DeprecationTime": at(timedelta(days=-1))}, []),  # already happened (and reported)
        ({"DeprecationTime": at(timedelta(days=3)), "State": "disabled"}, []),  # cannot launch
        ({"ScanResults": {"HighestFindingSeverityLabel": "critical",
                          "CriticalFixAvailableSince": at(timedelta(days=-14))}}, ["fix-overdue"]),
        ({"ScanResults": {"HighestFindingSeverityLabel": "critical",
                          "CriticalFixAvailableSince": at(timedelta(days=-13))}}, []),
        ({"ScanResults": {"HighestFindingSeverityLabel": "medium",
                          "MediumFixAvailableSince": at(timedelta(days=-90))}}, []),  # below high
        ({"ScanResults": {"HighestFindingSeverityLabel": "critical"}}, []),  # no fix yet
    ],
)  # fmt: skip
def test_what_is_due_within_the_horizon(fields, due):
    assert [d.happens for d in dues(record(**fields), WATCH, None, "", NOW, HORIZON)] == due


def test_allowed_amis_in_audit_mode_refuse_no_launch_so_nothing_is_due():
    vendor = record(OwnerId="137112412989", ImageOwnerAlias="amazon",
                    CreationDate=at(timedelta(days=-295)))  # fmt: skip
    criteria = [{"ImageProviders": ["amazon"],
                 "CreationDateCondition": {"MaximumDaysSinceCreated": 300}}]  # fmt: skip
    audit = settings_from({"State": "audit-mode", "ImageCriteria": criteria})
    enabled = settings_from({"State": "enabled", "ImageCriteria": criteria})

    assert dues(vendor, WATCH, audit, "111122223333", NOW, HORIZON) == []
    [due] = dues(vendor, WATCH, enabled, "111122223333", NOW, HORIZON)
    assert due.happens == "disallowed" and due.at == NOW + timedelta(days=5)


def part(account: str, region: str, days: list[int]) -> dict:
    rows = [{"account": account, "region": region, "imageId": f"ami-{account[:4]}{d:04d}",
             "name": f"golden-{d}", "happens": "deprecated", "at": format_time(
                 NOW + timedelta(days=d)), "overdue": False, "why": "DeprecationTime",
             "usage": {"total": 1, "byType": {"ec2:Instance": 1}, "error": None},
             "replacement": None} for d in days]  # fmt: skip
    return {"account": account, "region": region, "rowsTotal": len(rows), "rows": rows}


def test_people_read_every_target_s_rows_most_urgent_first_capped():
    parts = [part("111111111111", "us-east-1", list(range(2, 30, 2))),
             part("222222222222", "eu-west-1", list(range(1, 30, 2)))]  # fmt: skip

    rows, total = merged_rows(parts)
    email = forecast_email("golden", "2026-12-07T08:00:00Z", HORIZON, parts, "amiwatch")
    lines = [line for line in email.splitlines() if line.startswith("- ")]

    assert total == 29 and [r["at"][:10] for r in rows[:2]] == ["2026-11-28", "2026-11-29"]
    assert len(lines) == PEOPLE_ROWS and lines[0].startswith("- 2026-11-28  deprecated")
    assert "222222222222 / eu-west-1" in lines[0] and "111111111111 / us-east-1" in lines[1]
    assert f"...and {29 - PEOPLE_ROWS} more." in email
    assert '"AMI Forecast" event on the EventBridge bus "amiwatch"' in email


@pytest.mark.parametrize(("days", "severity"), [([3], "CRITICAL"), ([20], "WARNING"), ([], "INFO")])
def test_the_chat_message_says_how_urgent_the_run_is(days, severity):
    entry = forecast_chat_entry("golden", "p", NOW, HORIZON, [part("111111111111", "r", days)])

    assert entry["Message"].count(f'"title": "{severity}: AMI forecast') == 1
