"""The dispatcher's judgement: which targets a watch has now, and how fresh each is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from amiwatch.judge.dispatch import (
    DispatchReport,
    KnownTarget,
    expired_retirees,
    judge_freshness,
    scan_message,
    watch_targets,
)
from amiwatch.model.watch_config import parse_watch
from amiwatch.model.watches import AccountRef

HOME = "123456789012"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TWO_HOURS = timedelta(hours=2)
WATCH = parse_watch({
    "name": "golden", "owners": ["self"], "regions": ["us-east-1", "eu-west-1"],
    "accounts": ["self", {"id": "111111111111", "roleName": "Named"},
                 {"organizationalUnit": "ou-ab12-cdef3456", "roleName": "FromOu"}],
})  # fmt: skip
[SCOPE] = WATCH.organization_accounts


def test_named_accounts_come_first_and_each_account_is_taken_once():
    found = {SCOPE: [HOME, "111111111111", "333333333333"]}

    targets = watch_targets(WATCH, "us-east-1", HOME, found)

    assert [(a.id, a.role_name, r) for a, r in targets] == [
        ("self", "AmiWatchMember", "us-east-1"), ("self", "AmiWatchMember", "eu-west-1"),
        ("111111111111", "Named", "us-east-1"), ("111111111111", "Named", "eu-west-1"),
        ("333333333333", "FromOu", "us-east-1"), ("333333333333", "FromOu", "eu-west-1"),
    ]  # fmt: skip


def test_a_scan_message_names_the_target_and_its_role():
    body = json.loads(scan_message("golden", AccountRef("333333333333", "FromOu"), "eu-west-1"))

    assert body == {"scan": {"watch": "golden", "account": "333333333333",
                             "roleName": "FromOu", "region": "eu-west-1"}}  # fmt: skip


def test_freshness_names_new_stale_never_succeeded_and_removed_targets():
    report = DispatchReport("golden")
    known = [
        KnownTarget("111111111111", "us-east-1", last_success_at="2026-11-30T11:30:00Z"),
        KnownTarget("111111111111", "eu-west-1", last_success_at="2026-11-30T09:59:00Z"),
        KnownTarget("222222222222", "us-east-1"),  # ran, never succeeded
        KnownTarget("444444444444", "us-east-1", last_success_at="2026-11-30T11:30:00Z"),
    ]
    wanted = [("111111111111", "us-east-1"), ("111111111111", "eu-west-1"),
              ("222222222222", "us-east-1"), ("333333333333", "us-east-1")]  # fmt: skip

    judge_freshness(report, wanted, known, NOW, TWO_HOURS)

    assert report.new == ["333333333333/us-east-1"]
    assert report.stale == ["111111111111/eu-west-1", "222222222222/us-east-1"]
    assert report.removed == ["444444444444/us-east-1"]


def test_the_summary_counts_everything_and_names_at_most_twenty_per_note():
    report = DispatchReport("golden", targets=1600, enqueued=1600)
    report.new = [f"{n:012d}/us-east-1" for n in range(25)]

    summary = report.summary()

    assert summary["newTargets"] == 25 and summary["staleTargets"] == 0
    [note] = summary["notes"]
    assert note.startswith("25 new targets (a silent baseline first): 000000000000/us-east-1")
    assert note.endswith("and 5 more")


def test_a_retired_target_listed_again_is_returned_not_new():
    report = DispatchReport("golden")
    retired = [KnownTarget("333333333333", "us-east-1", last_run_at="2026-10-01T00:00:00Z")]

    judge_freshness(report, [("333333333333", "us-east-1"), ("555555555555", "us-east-1")],
                    [], NOW, TWO_HOURS, retired)  # fmt: skip

    assert report.returned == ["333333333333/us-east-1"]
    assert report.new == ["555555555555/us-east-1"]


def test_retired_snapshots_expire_90_days_after_the_last_run_unless_listed_again():
    retired = [
        KnownTarget("111111111111", "us-east-1", last_run_at="2026-09-01T11:59:00Z"),  # 90 d+
        KnownTarget("222222222222", "us-east-1", last_run_at="2026-09-01T12:01:00Z"),  # < 90 d
        KnownTarget("333333333333", "us-east-1", last_success_at="2026-01-01T00:00:00Z"),
        KnownTarget("444444444444", "us-east-1"),  # never ran: nothing worth keeping
        KnownTarget("555555555555", "us-east-1", last_run_at="2026-01-01T00:00:00Z"),
    ]

    expired = expired_retirees(retired, [("555555555555", "us-east-1")], NOW)

    assert expired == ["111111111111/us-east-1", "333333333333/us-east-1",
                       "444444444444/us-east-1"]  # fmt: skip


def test_an_ami_event_concerns_the_scopes_that_may_hold_the_account_with_their_role():
    from amiwatch.wiring.settings import Settings

    watches = [
        {"name": "golden", "owners": ["self"], "regions": ["us-east-1"],
         "accounts": ["self", {"id": "111111111111"},
                      {"organizationalUnit": "ou-ab12-cdef3456", "roleName": "FromOu",
                       "excludeAccounts": ["222222222222"]}]},
        {"name": "vendor", "owners": ["amazon"], "accounts": [{"organization": True}]},
        {"name": "fleet", "owners": ["self"], "accounts": [{"organization": True}]},
    ]  # fmt: skip
    settings = Settings(tuple(parse_watch(w) for w in watches), "t", "arn", "bus", "us-east-1")

    def at(account: str, region: str = "us-east-1") -> list[tuple[str, str, str, str]]:
        found = settings.org_targets_at(account, region, HOME)
        return [(w.name, a.id, a.role_name, r) for w, a, r in found]

    # "vendor" watches Amazon's images: an account's own AMI events never concern it.
    assert at("333333333333") == [
        ("golden", "333333333333", "FromOu", "us-east-1"),
        ("fleet", "333333333333", "AmiWatchMember", "us-east-1"),
    ]
    assert at("111111111111") == [("fleet", "111111111111", "AmiWatchMember", "us-east-1")]
    assert at("222222222222") == [("fleet", "222222222222", "AmiWatchMember", "us-east-1")]
    assert at("333333333333", "eu-west-1") == []  # a region no watch reads
    assert at(HOME) == [("fleet", "self", "AmiWatchMember", "us-east-1")]  # golden names self
