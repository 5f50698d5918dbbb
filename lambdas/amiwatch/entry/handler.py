"""The Lambda entry point, a doorway: a queue batch (refreshes, dispatched scans, forecasts), a
watch's dispatch or forecast, or a direct run of the targets an event names (all without one)."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from amiwatch.entry.queue import consume, is_queue_event, retry_delays
from amiwatch.model.contract import Target
from amiwatch.run.result import PublishIncomplete
from amiwatch.wiring.forecasts import forecast_queued
from amiwatch.wiring.observability import (
    logger,
    metrics,
    record_invocation,
    report_queue,
    report_queue_target,
    report_run,
    report_target_failure,
    runtime_versions,
    tracer,
)
from amiwatch.wiring.orders import ORDERS
from amiwatch.wiring.runs import postpone, queue_runner, run_target, target_check
from amiwatch.wiring.settings import Settings

# Module import is the cold start: its first log line says what this environment really loaded.
logger.info("amiwatch cold start", extra=runtime_versions())


class WatchesFailed(RuntimeError):
    """At least one target failed; the others ran. Raised so Lambda's error metric fires."""


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run the targets the event names (all without one); return a summary per target. A batch
    of a queue refreshes what AWS's own events name, or scans dispatched targets
    (amiwatch.entry.queue); an order (amiwatch.wiring.orders) dispatches a watch's targets,
    their forecasts or `amiwatch doctor`'s checks."""
    settings = Settings.from_env()
    _, partition, _, _, home_account, *_ = context.invoked_function_arn.split(":")
    if is_queue_event(event):
        runner = queue_runner(settings, context)
        response, tally = consume(event, context, settings, runner, (partition, home_account),
                                  report_queue_target, target_check(settings),
                                  partial(forecast_queued, settings))  # fmt: skip
        report_queue(tally)
        postpone(retry_delays(event, response))
        return response
    for name, order in ORDERS.items():
        if isinstance(event, dict) and name in event:
            return dict(order(settings, event, home_account, partition))
    summaries, failures = [], []
    for watch, account, region in settings.targets_for(event):
        account_id = home_account if account.is_self else account.id
        target = Target(watch.name, account_id, region, partition)
        try:
            result = run_target(settings, watch, account, target, context)
        except PublishIncomplete as exc:
            result = exc.result
            failures.append(str(exc))
        except Exception as exc:  # one target failing must not stop the others
            failures.append(report_target_failure(target, exc))
            continue
        report_run(result)
        summaries.append(result.summary())
    record_invocation(len(summaries), len(failures))
    if failures:
        raise WatchesFailed("; ".join(failures))
    return {"watches": summaries}
