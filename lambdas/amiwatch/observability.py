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


def _watch_metric(name: str, value: float, watch: str, **dimensions: str) -> None:
    # Dimensions are explicit (not taken from POWERTOOLS_SERVICE_NAME) because the stack's
    # heartbeat alarm must name exactly these: {service, watch}.
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as m:
        m.add_dimension(name="watch", value=watch)
        for key, dim in dimensions.items():
            m.add_dimension(name=key, value=dim)


def record_watch_metrics(result: WatchResult) -> None:
    """EMF metrics per watch: images scanned, changes by kind, publish failures, heartbeat."""
    if result.status == "locked":
        _watch_metric("RunsSkippedLocked", 1, result.watch)
        return
    _watch_metric("ImagesScanned", result.images, result.watch)
    if result.baseline:
        _watch_metric("BaselineImages", result.images, result.watch)
    for kind, count in result.changes.items():
        _watch_metric("Changes", count, result.watch, change=kind)
    _watch_metric("PublishFailures", len(result.failed), result.watch)
    if result.status == "ok":
        # The heartbeat the "no successful run" alarm watches.
        _watch_metric("SuccessfulRuns", 1, result.watch)


def record_invocation(watches_run: int, watches_failed: int) -> None:
    """Invocation-level metrics, flushed by the handler's log_metrics decorator."""
    metrics.add_metric(name="WatchesRun", unit=MetricUnit.Count, value=watches_run)
    metrics.add_metric(name="WatchesFailed", unit=MetricUnit.Count, value=watches_failed)
