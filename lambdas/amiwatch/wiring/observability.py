"""The one place that creates amiwatch's Powertools Logger, Metrics and Tracer."""

from __future__ import annotations

import platform
from typing import Any

import boto3
import botocore
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.shared.version import VERSION as POWERTOOLS_VERSION

from amiwatch import __version__
from amiwatch.aws.accounts import TargetUnavailable
from amiwatch.judge.dispatch import DispatchReport
from amiwatch.model.contract import Target
from amiwatch.run.forecast import ForecastResult
from amiwatch.run.result import QueueTally, WatchResult
from amiwatch.wiring.settings import target_metrics

SERVICE = "amiwatch"
NAMESPACE = "amiwatch"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def runtime_versions() -> dict[str, str]:
    """The versions actually loaded: what a cold start logs first, to compare with the tests."""
    return {
        "amiwatch": __version__,
        "powertools": POWERTOOLS_VERSION,
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "python": platform.python_version(),
    }


def _metric(name: str, value: float, **dimensions: str) -> None:
    # Dimensions are explicit (not taken from POWERTOOLS_SERVICE_NAME) because the stack's
    # alarms must name exactly these: {service} plus, per target, {watch, account, region}.
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as m:
        for key, dim in dimensions.items():
            m.add_dimension(name=key, value=dim)


def _where(watch: str, account: str, region: str) -> dict[str, str]:
    """A target's metric dimensions: {watch, account, region}, or with `targetMetrics` false
    {watch} only (each dimension set is a custom metric billed per month: docs/cost.md)."""
    if target_metrics():
        return {"watch": watch, "account": account, "region": region}
    return {"watch": watch}


def report_run(result: WatchResult) -> None:
    """A target's run: its metrics and one log line with its summary."""
    record_watch_metrics(result)
    logger.info("watch finished", extra=result.summary())


def report_forecast(result: ForecastResult) -> None:
    """A target's forecast: its rows as a metric, and one log line with its summary."""
    target = result.target
    _metric("ForecastRows", len(result.rows), **_where(target.watch, target.account, target.region))
    logger.info("forecast finished", extra=result.summary())


def report_target_failure(target: Target, exc: Exception) -> str:
    """A target that could not run: the log line with its traceback, the metrics, and the
    one-line reason the invocation's error will carry."""
    where = _where(target.watch, target.account, target.region)
    unavailable = isinstance(exc, TargetUnavailable)  # its message names account and region
    logger.exception("target unavailable" if unavailable else "target failed", extra=where)
    record_target_failure(target.watch, target.account, target.region)
    if unavailable:
        return f'watch "{target.watch}": {exc}'
    return f'watch "{target.watch}" in account {target.account}, region {target.region}: {exc}'


def record_watch_metrics(result: WatchResult) -> None:
    """EMF metrics per target: images scanned, changes by kind, publish failures, heartbeat."""
    target = _where(result.watch, result.account, result.region)
    if result.status == "locked":
        _metric("RunsSkippedLocked", 1, **target)
        return
    if result.status == "superseded":
        logger.info("continuation of a scan that completed already: nothing to do", extra=target)
        return
    if result.scan is not None:
        # A scan across invocations: only its completion counts as a successful run.
        checkpointed = result.scan["checkpointed"]
        _metric("ScanCheckpoints" if checkpointed else "ResumedScansCompleted", 1, **target)
        logger.info(
            "scan checkpointed: its continuation is on the target queue"
            if checkpointed
            else "checkpointed scan completed",
            extra={**target, "scan": result.scan},
        )
    _metric("ImagesScanned", result.images, **target)
    if result.baseline:
        _metric("BaselineImages", result.images, **target)
    for kind, count in result.changes.items():
        _metric("Changes", count, **target, change=kind)
    _metric("PublishFailures", len(result.undelivered), **target)
    if result.allowed_images is not None:
        _metric("AllowedImagesState", 1, **target,
                state=result.allowed_images.state or "unreadable")  # fmt: skip
    if result.unknown_image_ids:
        _metric("UnknownImageIds", len(result.unknown_image_ids), **target)
        logger.warning(
            "imageIds that EC2 does not know (a typo, or an image deregistered and purged): "
            "remove them from the watch",
            extra={**target, "imageIds": result.unknown_image_ids},
        )
    if result.selection_changed:
        logger.info(
            "the watch's selection was edited: images that entered or left only by the edit "
            "were recorded without events",
            extra={**target, "silent": dict(result.silent)},
        )
    if result.status == "ok":
        # The heartbeat the "no successful run" alarm watches.
        _metric("SuccessfulRuns", 1, **target)


def record_target_failure(watch: str, account: str, region: str) -> None:
    """A target that could not run: once for the stack's alarm ({service}), once per target."""
    _metric("TargetFailures", 1)
    _metric("TargetFailures", 1, **_where(watch, account, region))


def report_queue_target(target: Target, outcome: WatchResult | Exception, full: bool) -> None:
    """A target a queue ran: a full scan (dispatched, or a vendor's release) reports as a
    scheduled run did; a refresh of some ids as a refresh; a failure as a failure."""
    if isinstance(outcome, Exception):
        report_target_failure(target, outcome)
        return
    if full:
        report_run(outcome)
        return
    where = _where(target.watch, target.account, target.region)
    _metric("Refreshes", 1, **where)
    for kind, count in outcome.changes.items():
        _metric("Changes", count, **where, change=kind)
    if outcome.undelivered:
        _metric("PublishFailures", len(outcome.undelivered), **where)
    logger.info("refresh finished", extra=outcome.summary())


def report_dispatch(report: DispatchReport) -> dict[str, Any]:
    """A watch's dispatch: its freshness metrics (one alarm watches StaleTargets), one log line
    with the notes; the summary the Lambda returns."""
    _metric("StaleTargets", len(report.stale))  # one value per watch and period: Maximum alarms
    _metric("StaleTargets", len(report.stale), watch=report.watch)
    _metric("DispatchedTargets", report.enqueued, watch=report.watch)
    summary = report.summary()
    logger.info("dispatch finished", extra=summary)
    return summary


def report_queue(tally: QueueTally) -> None:
    """A batch of the refresh queue: ignored messages once per batch (never retried), retries."""
    for reason, count in tally.ignored.items():
        _metric("RefreshIgnored", count, reason=reason)
    if tally.retried:
        _metric("RefreshRetried", tally.retried)
    logger.info(
        "refresh batch",
        extra={
            "messages": tally.messages,
            "targets": tally.targets,
            "retried": tally.retried,
            "ignored": tally.ignored,
        },
    )


def record_invocation(watches_run: int, watches_failed: int) -> None:
    """Invocation-level metrics, flushed by the handler's log_metrics decorator."""
    metrics.add_metric(name="WatchesRun", unit=MetricUnit.Count, value=watches_run)
    metrics.add_metric(name="WatchesFailed", unit=MetricUnit.Count, value=watches_failed)
