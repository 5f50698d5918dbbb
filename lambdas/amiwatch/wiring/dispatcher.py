"""A watch's dispatch, wired to AWS: its targets (cdk.json's accounts and the organisation's)
onto the target queue, and how fresh each is (amiwatch.judge.dispatch decides)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws.accounts import OrgDirectory
from amiwatch.aws.dispatching import (
    DispatchIncomplete,
    TargetQueue,
    known_targets,
    organizations_client,
    purge_targets,
    retire_targets,
    retired_key,
)
from amiwatch.judge.dispatch import (
    DispatchReport,
    KnownTarget,
    expired_retirees,
    judge_freshness,
    scan_message,
    watch_targets,
)
from amiwatch.model.records import format_time
from amiwatch.model.watches import AccountRef, OrgAccounts, Watch
from amiwatch.wiring.observability import logger
from amiwatch.wiring.runs import home_clients
from amiwatch.wiring.settings import Settings


def _retired(ddb: Any, table: str, watch: str) -> list[KnownTarget] | None:
    """The watch's retired targets; None if they cannot be read (nothing is purged then)."""
    try:
        return known_targets(ddb, table, retired_key(watch))
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cannot read retired targets", extra={"error": str(exc)})
        return None


def _purge(ddb: Any, table: str, watch: str, expired: Sequence[str]) -> list[str]:
    """Housekeeping: a failure is logged and left to the next dispatch."""
    try:
        return purge_targets(ddb, table, watch, expired)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cannot delete retired targets' snapshots", extra={"error": str(exc)})
        return []


def targets_now(
    settings: Settings, watch: Watch, home_account: str, report: DispatchReport
) -> tuple[list[tuple[AccountRef, str]], str | None]:
    """The watch's targets now: cdk.json's accounts and those the organisation lists (and why
    the organisation could not be listed, if it could not)."""
    found: dict[OrgAccounts, list[str]] = {}
    failure = None
    if watch.organization_accounts:
        try:
            directory = OrgDirectory(
                organizations_client(settings.region, settings.organization_role_arn)
            )
            for scope in watch.organization_accounts:
                found[scope], inactive = directory.accounts(scope)
                report.inactive_accounts += inactive
            report.organization_calls = directory.calls
        except (BotoCoreError, ClientError) as exc:
            found, failure = {}, f"cannot list the organisation's accounts: {exc}"
    targets = watch_targets(watch, settings.region, home_account, found)
    report.targets = len(targets)
    return targets, failure


def dispatch_watch(settings: Settings, watch_name: str, home_account: str) -> DispatchReport:
    """One watch's period: its targets (cdk.json's accounts and the organisation's) onto the
    target queue, and how fresh each is. DispatchIncomplete (after sending what it could) if
    the organisation could not be read or some messages were not sent."""
    started = time.monotonic()
    [watch] = settings.watches_for({"watches": [watch_name]})
    report = DispatchReport(watch.name)
    targets, failure = targets_now(settings, watch, home_account, report)
    home = home_clients(settings.region)
    queue = TargetQueue(home["sqs"], settings.target_queue_url or "")
    report.enqueued = queue.send([scan_message(watch.name, a, r) for a, r in targets])
    ddb, table = home["dynamodb"], settings.table_name
    known = known_targets(ddb, table, watch.name)
    retired = _retired(ddb, table, watch.name)
    keys = [(home_account if a.is_self else a.id, r) for a, r in targets]
    stale_after = timedelta(seconds=settings.stale_after_seconds)
    now = datetime.now(UTC)
    judge_freshness(report, keys, known, now, stale_after, retired or ())
    if failure is None:  # a failed listing must not retire the organisation's accounts
        retire_targets(ddb, table, watch.name, report.removed, format_time(now))
        if retired:
            report.purged = _purge(ddb, table, watch.name, expired_retirees(retired, keys, now))
    report.seconds = time.monotonic() - started
    if failure:
        raise DispatchIncomplete(f'watch "{watch.name}": {failure} (sent the other targets)')
    return report
