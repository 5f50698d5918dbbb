"""Schedule expressions at synth: validated the way EventBridge does, and their longest gap.

The heartbeat alarm ("no successful run") must know the longest time a target may go without a
run: the period of `rate()`, and for `cron()` the longest gap between two consecutive fire times
(a weekday schedule leaves three days from Friday to Monday). Cron fields follow EventBridge:
`minutes hours day-of-month month day-of-week year`, with `? L W #` where EventBridge allows them
and exactly one of day-of-month and day-of-week set to `?`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from amiwatch.model.errors import ConfigError

RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((.*)\)$")
UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}
MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
WEEKDAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# Fire times are evaluated over four whole years (one leap year, every weekday/date pairing).
HORIZON_YEARS = range(2027, 2031)
FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
RANGES = {"minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12),
          "day-of-week": (1, 7), "year": (1970, 2199)}  # fmt: skip
NAMES = {"month": MONTHS, "day-of-week": WEEKDAYS}
DayRule = Callable[[date], bool]


# CloudWatch: period x evaluation periods <= 7 days, and <= 1 day for periods under an hour.
MAX_EVALUATION_MINUTES = 7 * 1440
MAX_SHORT_EVALUATION_MINUTES = 1440


@dataclass(frozen=True)
class Heartbeat:
    """The "no successful run" alarm's window: `periods` periods of `period_minutes` each, all
    without a success. One period more than two gaps need, because CloudWatch aligns periods to
    the clock: the window then always spans at least two whole gaps."""

    period_minutes: int
    periods: int


def heartbeat_for(gap_minutes: int) -> Heartbeat | None:
    """The heartbeat for a target that runs at least every `gap_minutes`, or None when the window
    it needs is longer than CloudWatch can evaluate (a gap of more than three days)."""
    period = min(gap_minutes, 1440)
    periods = -(-2 * gap_minutes // period) + 1
    limit = MAX_EVALUATION_MINUTES if period >= 60 else MAX_SHORT_EVALUATION_MINUTES
    return Heartbeat(period, periods) if period * periods <= limit else None


MAX_HEARTBEAT_GAP_MINUTES = 3 * 1440  # the largest gap heartbeat_for() can watch


@dataclass(frozen=True)
class Schedule:
    """A validated expression and the longest gap between two runs (None: it never repeats)."""

    expression: str
    longest_gap_minutes: int | None
    is_rate: bool


def stale_after_minutes(schedule: Schedule) -> int:
    """No success for this long makes a target stale: two of the schedule's longest gaps (a
    schedule that never repeats: two hours). The dispatcher, its alarm and `amiwatch status`
    judge by the same rule."""
    return 2 * (schedule.longest_gap_minutes or 60)


def parse_schedule(expression: Any, where: str = "amiwatch.schedule") -> Schedule:
    """Validate a rate() or cron() expression; ConfigError names the field at fault."""
    if not isinstance(expression, str):
        raise ConfigError(f"{where} must be a string, got {expression!r}")
    rate = RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if count < 1 or (count == 1) != (not unit.endswith("s")):
            raise ConfigError(
                f'{where} "{expression}": use "rate(1 {unit.rstrip("s")})" for one, '
                f'"rate(N {unit.rstrip("s")}s)" for more'
            )
        return Schedule(expression, count * UNIT_MINUTES[unit.rstrip("s")], is_rate=True)
    cron = CRON.match(expression)
    if not cron:
        raise ConfigError(
            f'{where} "{expression}" is not "rate(N unit)" or "cron(min hour dom month dow year)"'
        )
    fields = cron.group(1).split()
    if len(fields) != len(FIELD_NAMES):
        raise ConfigError(
            f'{where} "{expression}": cron needs 6 fields ({" ".join(FIELD_NAMES)}), '
            f"got {len(fields)}"
        )
    return Schedule(expression, _longest_gap(_Cron(fields, f'{where} "{expression}"')), False)


class _Cron:
    """The parsed fields of a cron expression."""

    def __init__(self, fields: list[str], where: str) -> None:
        self.where = where
        minutes, hours, dom, month, dow, year = fields
        self.minutes = self._values("minutes", minutes)
        self.hours = self._values("hours", hours)
        self.months = self._values("month", month)
        self.years = self._values("year", year)
        if (dom == "?") == (dow == "?"):
            raise ConfigError(
                f"{where}: exactly one of day-of-month and day-of-week must be ? "
                f'(got "{dom}" and "{dow}")'
            )
        self.day_rule = self._dom(dom) if dow == "?" else self._dow(dow)

    def fail(self, field: str, value: str, why: str = "") -> ConfigError:
        low, high = RANGES[field]
        detail = why or f"allowed: {low}-{high}, * , - /"
        return ConfigError(f'{self.where}: {field} "{value}" is not valid ({detail})')

    def _number(self, field: str, text: str) -> int:
        names = NAMES.get(field, {})
        value = names.get(text.upper()) if text.upper() in names else None
        if value is None:
            if not text.isdigit() or not text.isascii():
                raise self.fail(field, text)
            value = int(text)
        low, high = RANGES[field]
        if not low <= value <= high:
            raise self.fail(field, text)
        return value

    def _values(self, field: str, text: str) -> frozenset[int]:
        low, high = RANGES[field]
        values: set[int] = set()
        for part in text.split(","):
            base, _, step_text = part.partition("/")
            step = int(step_text) if step_text.isdigit() and step_text.isascii() else 1
            if step_text and not (step_text.isdigit() and 1 <= step <= high):
                raise self.fail(field, part, f"a step must be a number 1-{high}")
            if base == "*":
                start, stop = low, high
            elif "-" in base:
                first, _, last = base.partition("-")
                start, stop = self._number(field, first), self._number(field, last)
            else:
                start = self._number(field, base)
                stop = high if step_text else start
            if stop < start:
                raise self.fail(field, part, "a range must go from low to high")
            values.update(range(start, stop + 1, step))
        return frozenset(values)

    def _dom(self, text: str) -> DayRule:
        if text == "L":
            return lambda d: d.day == _month_days(d)
        if text == "LW":
            return lambda d: d == _nearest_weekday(d.replace(day=_month_days(d)))
        if text.endswith("W") and "," not in text:
            day = self._number("day-of-month", text[:-1])
            return lambda d: day <= _month_days(d) and d == _nearest_weekday(d.replace(day=day))
        days = self._values("day-of-month", text)
        return lambda d: d.day in days

    def _dow(self, text: str) -> DayRule:
        if "#" in text:
            weekday_text, _, nth_text = text.partition("#")
            weekday, nth = self._number("day-of-week", weekday_text), nth_text
            if nth not in {"1", "2", "3", "4", "5"}:
                raise self.fail("day-of-week", text, "use <day>#<1-5>")
            return lambda d: _weekday(d) == weekday and (d.day - 1) // 7 + 1 == int(nth)
        if text.endswith("L") and text != "L":
            weekday = self._number("day-of-week", text[:-1])
            return lambda d: _weekday(d) == weekday and d.day + 7 > _month_days(d)
        if text == "L":
            return lambda d: _weekday(d) == 7
        days = self._values("day-of-week", text)
        return lambda d: _weekday(d) in days

    def fire_days(self) -> Iterator[date]:
        for year in (y for y in HORIZON_YEARS if y in self.years):
            day = date(year, 1, 1)
            while day.year == year:
                if day.month in self.months and self.day_rule(day):
                    yield day
                day += timedelta(days=1)


def _longest_gap(cron: _Cron) -> int | None:
    times = sorted(h * 60 + m for h in cron.hours for m in cron.minutes)
    days = list(cron.fire_days())
    if not days or (len(days) == 1 and len(times) == 1):
        return None
    within = max((b - a for a, b in pairwise(times)), default=0)
    across = max(((b - a).days * 1440 - times[-1] + times[0] for a, b in pairwise(days)), default=0)
    return max(within, across) or None


def _month_days(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _weekday(day: date) -> int:
    """EventBridge numbering: 1 = Sunday ... 7 = Saturday."""
    return (day.isoweekday() % 7) + 1


def _nearest_weekday(day: date) -> date:
    """`nW`: the weekday nearest to that day, within its month."""
    if day.isoweekday() == 6:  # Saturday -> Friday, or Monday if the 1st
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if day.isoweekday() == 7:  # Sunday -> Monday, or Friday if the month's last day
        return day + timedelta(days=1) if day.day < _month_days(day) else day - timedelta(days=2)
    return day
