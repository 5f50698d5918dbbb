"""The Lambda entry point: a doorway to run_watch, nothing more.

Each schedule invokes it for one target (watch, account, region); a plain or `{"watches": [...]}`
invocation runs every target of those watches in turn.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from amiwatch.aws.accounts import TargetClients, TargetUnavailable, explain
from amiwatch.aws.clients import client
from amiwatch.aws.publish import Publisher
from amiwatch.aws.store import SnapshotStore
from amiwatch.config import AccountRef, Watch
from amiwatch.events import Target
from amiwatch.observability import (
    logger,
    metrics,
    record_invocation,
    record_target_failure,
    record_watch_metrics,
    runtime_versions,
    tracer,
)
from amiwatch.pipeline import PublishIncomplete, WatchAws, WatchResult, run_watch
from amiwatch.settings import Settings

# Module import is the cold start: its first log line says what this environment really loaded.
logger.info("amiwatch cold start", extra=runtime_versions())


class WatchesFailed(RuntimeError):
    """At least one target failed; the others ran. Raised so Lambda's error metric fires."""


@cache
def _home_clients(region: str) -> dict[str, Any]:
    # The snapshot, bus and topics live in the watcher's own account and region.
    return {name: client(name, region=region) for name in ("dynamodb", "events", "sns")}


@cache
def _target_clients(external_id: str | None, partition: str) -> TargetClients:
    return TargetClients(external_id, partition)


def _run_one(
    settings: Settings, watch: Watch, account: AccountRef, target: Target, request_id: str
) -> WatchResult:
    home = _home_clients(settings.region)
    try:
        ec2 = _target_clients(settings.external_id, target.partition).ec2(
            account, target.region, session_name=f"amiwatch-{watch.name}"
        )
        aws = WatchAws(
            ec2=ec2,
            bus_name=settings.bus_name,
            store=SnapshotStore(home["dynamodb"], settings.table_name, target),
            publisher=Publisher(home["events"], home["sns"], settings.topics()),
            notices=settings.notices,
        )
        now = datetime.now(UTC)
        lease = settings.lease_seconds
        return run_watch(watch, target, aws, now, owner=request_id, lease_seconds=lease)
    except (ClientError, BotoCoreError) as exc:
        unavailable = explain(exc, account, target.region)
        if unavailable is None:
            raise
        raise unavailable from exc


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run the targets the event names (all without one); return a summary per target."""
    settings = Settings.from_env()
    summaries, failures = [], []
    _, partition, _, _, home_account, *_ = context.invoked_function_arn.split(":")
    for watch, account, region in settings.targets_for(event):
        account_id = home_account if account.is_self else account.id
        target = Target(watch.name, account_id, region, partition)
        label = f'watch "{watch.name}" in account {account_id}, region {region}'
        try:
            result = _run_one(settings, watch, account, target, context.aws_request_id)
        except PublishIncomplete as exc:
            result = exc.result
            failures.append(str(exc))
        except Exception as exc:  # one target failing must not stop the others
            unavailable = isinstance(exc, TargetUnavailable)  # its message names the target
            where = {"watch": watch.name, "account": account_id, "region": region}
            logger.exception("target unavailable" if unavailable else "target failed", extra=where)
            record_target_failure(watch.name, account_id, region)
            failures.append(f'watch "{watch.name}": {exc}' if unavailable else f"{label}: {exc}")
            continue
        record_watch_metrics(result)
        logger.info("watch finished", extra=result.summary())
        summaries.append(result.summary())
    record_invocation(len(summaries), len(failures))
    if failures:
        raise WatchesFailed("; ".join(failures))
    return {"watches": summaries}
