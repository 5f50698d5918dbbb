"""The orders an invocation may carry besides queue batches, by their key in the event: a
watch's dispatch (its schedule), its forecast (the forecast schedule), `amiwatch doctor`'s checks.
Each takes (settings, event, home account, partition) and returns the invocation's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amiwatch.wiring.dispatcher import dispatch_watch
from amiwatch.wiring.doctor import check_targets
from amiwatch.wiring.forecasts import dispatch_forecast
from amiwatch.wiring.observability import report_dispatch
from amiwatch.wiring.settings import Settings, dispatched_watch, forecast_order

Order = Callable[[Settings, dict[str, Any], str, str], Any]

ORDERS: dict[str, Order] = {
    "dispatch": lambda settings, event, home, _: report_dispatch(
        dispatch_watch(settings, dispatched_watch(event), home)),
    "forecast": lambda settings, event, home, _: dispatch_forecast(
        settings, *forecast_order(event), home),
    "doctor": lambda settings, event, home, partition: check_targets(
        settings, event["doctor"], home, partition),
}  # fmt: skip
