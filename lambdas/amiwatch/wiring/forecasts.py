"""The forecast, wired to AWS: a schedule per watch dispatches its targets (one forecast order
each on the target queue, like scans); each target's forecast sends its event; the last target
of the run sends people the run's one email and chat message (aws.forecasts has the fan-in)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from amiwatch.aws.dispatching import TargetQueue
from amiwatch.aws.forecasts import ForecastRun, publish, put_one_event, stored_records
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.judge.dispatch import DispatchReport, forecast_message
from amiwatch.messages.forecast import (
    forecast_chat_entry,
    forecast_topic_entry,
    merged_rows,
    people_part,
)
from amiwatch.messages.sns import FORECAST
from amiwatch.model.contract import Target
from amiwatch.run.forecast import forecast_target
from amiwatch.wiring.dispatcher import targets_now
from amiwatch.wiring.observability import logger, report_forecast
from amiwatch.wiring.runs import home_clients, target_ec2
from amiwatch.wiring.settings import Settings, TargetRef


def dispatch_forecast(
    settings: Settings, watch_name: str, period: str, home_account: str
) -> dict[str, Any]:
    """One watch's forecast period: open its run, put one order per target on the queue."""
    started = time.monotonic()
    [watch] = settings.watches_for({"watches": [watch_name]})
    report = DispatchReport(watch.name)
    targets, failure = targets_now(settings, watch, home_account, report)
    home = home_clients(settings.region)
    ForecastRun(home["dynamodb"], settings.table_name, watch.name, period).open(
        len(targets), datetime.now(UTC)
    )
    queue = TargetQueue(home["sqs"], settings.target_queue_url or "")
    enqueued = queue.send([forecast_message(watch.name, a, r, period) for a, r in targets])
    summary = {"watch": watch.name, "period": period, "targets": len(targets),
               "enqueued": enqueued, "seconds": round(time.monotonic() - started, 3)}  # fmt: skip
    logger.info("forecast dispatched", extra=summary)
    if failure:
        # The targets listed were sent; the run waits for them only (a retry re-sends them).
        logger.warning("forecast dispatched without the organisation", extra={"error": failure})
    return {"forecast": summary}


def forecast_queued(settings: Settings, ref: TargetRef, target: Target, period: str) -> None:
    """One target's forecast order: its event, its part of the run, and, when it is the last
    target of the run, the people's message. Raises when the order must come again."""
    watch, account, _ = ref
    home = home_clients(settings.region)
    now = datetime.now(UTC)
    store = DynamoSnapshotStore(home["dynamodb"], settings.table_name, target)
    images = Ec2Images(target_ec2(settings, watch, account, target), account, target.region)
    horizon = settings.forecast
    result = forecast_target(watch, target, stored_records(store), images, now, horizon,
                             period=period, bus_name=settings.bus_name)  # fmt: skip
    report_forecast(result)
    if result.rows or not horizon.quiet:
        put_one_event(home["events"], result.entry)
    run = ForecastRun(home["dynamodb"], settings.table_name, watch.name, period)
    if run.report(target, people_part(result.detail), now) and run.claim(now):
        try:
            _tell_people(settings, watch.name, period, run.parts(), now)
        except Exception:
            run.release()
            raise


def _tell_people(
    settings: Settings, watch: str, period: str, parts: list[dict[str, Any]], now: datetime
) -> None:
    _, total = merged_rows(parts)
    horizon, sns = settings.forecast, home_clients(settings.region)["sns"]
    if not total and horizon.quiet:
        logger.info("forecast: nothing due", extra={"watch": watch, "targets": len(parts)})
        return
    publish(sns, settings.topic_arn,
            forecast_topic_entry(watch, period, horizon, parts, settings.bus_name))  # fmt: skip
    notices = settings.notices
    if settings.chat_topic_arn and FORECAST in notices.chat_changes:
        publish(sns, settings.chat_topic_arn,
                forecast_chat_entry(watch, period, now, horizon, parts))  # fmt: skip
    logger.info("forecast sent", extra={"watch": watch, "targets": len(parts), "rows": total})
