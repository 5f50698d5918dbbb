"""The one place that creates amiwatch's Powertools Logger, Metrics and Tracer."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from amiwatch.pipeline import WatchResult

SERVICE = "amiwatch"
NAMESPACE = "amiwatch"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


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


def record_watch_metrics(result: WatchResult) -> None:
    """EMF metrics per target: images scanned, changes by kind, publish failures, heartbeat."""
    target = {"watch": result.watch, "account": result.account, "region": result.region}
    if result.status == "locked":
        _metric("RunsSkippedLocked", 1, **target)
        return
    _metric("ImagesScanned", result.images, **target)
    if result.baseline:
        _metric("BaselineImages", result.images, **target)
    for kind, count in result.changes.items():
        _metric("Changes", count, **target, change=kind)
    _metric("PublishFailures", len(result.failed), **target)
    if result.status == "ok":
        # The heartbeat the "no successful run" alarm watches.
        _metric("SuccessfulRuns", 1, **target)


def record_target_failure(watch: str, account: str, region: str) -> None:
    """A target that could not run: once for the stack's alarm ({service}), once per target."""
    _metric("TargetFailures", 1)
    _metric("TargetFailures", 1, watch=watch, account=account, region=region)


def record_invocation(watches_run: int, watches_failed: int) -> None:
    """Invocation-level metrics, flushed by the handler's log_metrics decorator."""
    metrics.add_metric(name="WatchesRun", unit=MetricUnit.Count, value=watches_run)
    metrics.add_metric(name="WatchesFailed", unit=MetricUnit.Count, value=watches_failed)
