"""cdk.json at synth, the forecast's settings: its own schedule (or none), how far it looks, how
long a fix may wait, and whether a run with nothing due stays quiet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError
from amiwatch.model.schedule import parse_schedule

KEYS = ("forecastSchedule", "forecastDays", "fixGraceDays", "forecastQuiet")
MAX_DAYS = 365


@dataclass(frozen=True)
class ForecastConfig:
    schedule: str | None  # None: no forecast
    days: int
    fix_grace_days: int
    quiet: bool

    def environment(self) -> dict[str, str]:
        """What the Lambda reads (amiwatch.wiring.settings)."""
        return {
            "AMIWATCH_FORECAST_DAYS": str(self.days),
            "AMIWATCH_FIX_GRACE_DAYS": str(self.fix_grace_days),
            "AMIWATCH_FORECAST_QUIET": "true" if self.quiet else "false",
        }


def load_forecast(raw: dict[str, Any]) -> ForecastConfig:
    """The forecast keys of the `amiwatch` object, each error naming its key."""
    expression = raw.get("forecastSchedule", defaults.FORECAST_SCHEDULE)
    if expression is True or expression is None:
        raise ConfigError(
            "amiwatch.forecastSchedule must be a rate() or cron() expression, or false for no "
            f"forecast, got {json.dumps(expression)}"
        )
    schedule = None
    if expression is not False:
        schedule = parse_schedule(expression, "amiwatch.forecastSchedule").expression
    quiet = raw.get("forecastQuiet", defaults.FORECAST_QUIET)
    if not isinstance(quiet, bool):
        raise ConfigError(f"amiwatch.forecastQuiet must be true or false, got {json.dumps(quiet)}")
    return ForecastConfig(
        schedule=schedule,
        days=_days(raw, "forecastDays", defaults.FORECAST_DAYS, 1),
        fix_grace_days=_days(raw, "fixGraceDays", defaults.FIX_GRACE_DAYS, 0),
        quiet=quiet,
    )


def _days(raw: dict[str, Any], key: str, default: int, low: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DAYS:
        raise ConfigError(
            f"amiwatch.{key} must be a whole number of days {low}..{MAX_DAYS}, "
            f"got {json.dumps(value)}"
        )
    return value
