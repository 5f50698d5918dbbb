"""The dispatcher: each period, one watch's targets become one queue message each.

A schedule per watch invokes the Lambda with `{"dispatch": {"watch": "<name>"}}`. The
dispatcher is the only piece that knows the target list: the accounts named in cdk.json plus
those AWS Organizations lists now, times the watch's regions. Each target becomes a `scan`
message on the target queue; the watcher consumes them with bounded concurrency, retries and a
dead-letter queue. From the `meta` item every run writes (found through the table's
TargetsByWatch index) it also judges freshness: a target with no success in two schedule
periods is stale; one with no `meta` yet is new (its first run is a silent baseline); one the
watch no longer covers is removed: named once, then taken out of the index (its snapshot stays;
amiwatch stops running it).

Pure: targets and what the table knows in, messages and the report out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from amiwatch.model.records import parse_time
from amiwatch.model.watches import AccountRef, OrgAccounts, Watch

SCAN, FORECAST = "scan", "forecast"
NOTE_LIMIT = 20  # accounts named per note in the summary; the counts are always whole
# A retired target's snapshot is kept this long after its last run, then deleted (if its
# account comes back sooner, its next run diffs against it).
RETIRED_KEPT = timedelta(days=90)


@dataclass(frozen=True)
class KnownTarget:
    """What the table knows of a target (its `meta` item)."""

    account: str
    region: str
    last_success_at: str | None = None
    last_run_at: str | None = None
    images: int | None = None
    last_changes: Mapping[str, int] = field(default_factory=dict)


@dataclass
class DispatchReport:
    """What one dispatch did: the run summary of a watch's period."""

    watch: str
    targets: int = 0
    enqueued: int = 0
    new: list[str] = field(default_factory=list)  # "account/region"
    returned: list[str] = field(default_factory=list)  # retired, listed again: snapshot kept
    stale: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)  # retired long ago: snapshot deleted
    inactive_accounts: list[str] = field(default_factory=list)  # suspended, closing: not run
    organization_calls: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return {
            "watch": self.watch,
            "targets": self.targets,
            "enqueued": self.enqueued,
            "newTargets": len(self.new),
            "returnedTargets": len(self.returned),
            "staleTargets": len(self.stale),
            "removedTargets": len(self.removed),
            "purgedTargets": len(self.purged),
            "notes": self.notes(),
            "organizationCalls": self.organization_calls,
            "seconds": round(self.seconds, 3),
        }

    def notes(self) -> list[str]:
        """One line per kind of news, naming up to NOTE_LIMIT targets."""
        lines = []
        for what, items in (
            ("new targets (a silent baseline first)", self.new),
            ("returned targets (compared with their kept snapshot)", self.returned),
            ("stale targets (no success in two periods)", self.stale),
            (
                "removed targets (no longer run or listed; their snapshots stay 90 days)",
                self.removed,
            ),
            ("retired targets' snapshots deleted (90 days after their last run)", self.purged),
            ("inactive accounts skipped (suspended or closing)", self.inactive_accounts),
        ):
            if items:
                shown = ", ".join(items[:NOTE_LIMIT])
                more = f" and {len(items) - NOTE_LIMIT} more" if len(items) > NOTE_LIMIT else ""
                lines.append(f"{len(items)} {what}: {shown}{more}")
        return lines


def watch_targets(
    watch: Watch,
    home_region: str,
    home_account: str,
    found: Mapping[OrgAccounts, Sequence[str]],
) -> list[tuple[AccountRef, str]]:
    """The watch's targets now: accounts named in cdk.json first, then those Organizations
    listed (`found`, per scope); an account is taken once, the watcher's own as "self"."""
    accounts: dict[str, AccountRef] = {}
    for ref in watch.accounts:
        accounts.setdefault(home_account if ref.is_self else ref.id, ref)
    for scope in watch.organization_accounts:
        for account_id in found.get(scope, ()):
            ref = (
                AccountRef()
                if account_id == home_account
                else AccountRef(account_id, scope.role_name)
            )
            accounts.setdefault(account_id, ref)
    return [(ref, region) for ref in accounts.values() for region in watch.regions_or(home_region)]


def scan_message(watch: str, account: AccountRef, region: str, scan_id: str | None = None) -> str:
    """The target queue's message for one target's scan (`scan_id`: the continuation of that
    checkpointed scan)."""
    order = {"watch": watch, "account": account.id, "roleName": account.role_name,
             "region": region, **({"scanId": scan_id} if scan_id else {})}  # fmt: skip
    return json.dumps({SCAN: order}, separators=(",", ":"))


def forecast_message(watch: str, account: AccountRef, region: str, period: str) -> str:
    """The target queue's message for one target's forecast of one period."""
    return json.dumps(
        {FORECAST: {"watch": watch, "account": account.id, "roleName": account.role_name,
                    "region": region, "period": period}},
        separators=(",", ":"),
    )  # fmt: skip


def judge_freshness(
    report: DispatchReport,
    targets: Iterable[tuple[str, str]],
    known: Iterable[KnownTarget],
    now: datetime,
    stale_after: timedelta,
    retired: Iterable[KnownTarget] = (),
) -> None:
    """Fill the report's new, returned, stale and removed targets ((account id, region) pairs;
    `known` the watch's targets in the table, `retired` those removed earlier)."""
    by_key = {(k.account, k.region): k for k in known}
    kept = {(k.account, k.region) for k in retired}
    wanted = set(targets)
    for account, region in sorted(wanted):
        seen = by_key.get((account, region))
        name = f"{account}/{region}"
        if seen is None:
            (report.returned if (account, region) in kept else report.new).append(name)
            continue
        succeeded = parse_time(seen.last_success_at)
        if succeeded is None or succeeded < now - stale_after:
            report.stale.append(name)
    report.removed = sorted(f"{a}/{r}" for a, r in by_key if (a, r) not in wanted)


def expired_retirees(
    retired: Iterable[KnownTarget], targets: Iterable[tuple[str, str]], now: datetime
) -> list[str]:
    """The retired targets ("account/region") whose snapshots have been kept long enough:
    last run more than RETIRED_KEPT ago and not a target again."""
    wanted = set(targets)
    expired = []
    for known in retired:
        last = parse_time(known.last_run_at or known.last_success_at)
        kept_enough = last is None or last < now - RETIRED_KEPT
        if kept_enough and (known.account, known.region) not in wanted:
            expired.append(f"{known.account}/{known.region}")
    return sorted(expired)
