"""The Lambda entry point: a doorway to run_watch, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from amiwatch.aws.clients import client
from amiwatch.aws.publish import Publisher
from amiwatch.aws.store import SnapshotStore
from amiwatch.config import Watch
from amiwatch.events import Target
from amiwatch.observability import (
    logger,
    metrics,
    record_invocation,
    record_watch_metrics,
    tracer,
)
from amiwatch.pipeline import PublishIncomplete, WatchAws, WatchResult, run_watch
from amiwatch.settings import Settings


class WatchesFailed(RuntimeError):
    """At least one watch failed; the others ran. Raised so Lambda's error metric fires."""


@cache
def _clients(region: str) -> dict[str, Any]:
    return {name: client(name, region=region) for name in ("ec2", "dynamodb", "events", "sns")}


def _run_one(settings: Settings, watch: Watch, context: LambdaContext) -> WatchResult:
    _, partition, _, _, account, *_ = context.invoked_function_arn.split(":")
    target = Target(watch.name, account, settings.region, partition)
    clients = _clients(settings.region)
    aws = WatchAws(
        ec2=clients["ec2"],
        bus_name=settings.bus_name,
        store=SnapshotStore(clients["dynamodb"], settings.table_name, target),
        publisher=Publisher(clients["events"], clients["sns"], settings.topics()),
        notices=settings.notices,
    )
    now = datetime.now(UTC)
    lease = settings.lease_seconds
    return run_watch(watch, target, aws, now, owner=context.aws_request_id, lease_seconds=lease)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run every watch (or those the event names) and return a summary per watch."""
    settings = Settings.from_env()
    summaries, failures = [], []
    for watch in settings.watches_for(event):
        try:
            result = _run_one(settings, watch, context)
        except PublishIncomplete as exc:
            result = exc.result
            failures.append(str(exc))
        except Exception as exc:  # one watch failing must not stop the others
            logger.exception("watch failed", extra={"watch": watch.name})
            failures.append(f'watch "{watch.name}": {exc}')
            continue
        record_watch_metrics(result)
        logger.info("watch finished", extra=result.summary())
        summaries.append(result.summary())
    record_invocation(len(summaries), len(failures))
    if failures:
        raise WatchesFailed("; ".join(failures))
    return {"watches": summaries}
