"""The Lambda's environment and invoking events: a mistake is one ConfigError naming it."""

from __future__ import annotations

import json

import pytest

from amiwatch.model.errors import ConfigError
from amiwatch.wiring.settings import Settings, forecast_order

ENV = {
    "AMIWATCH_TABLE": "t",
    "AMIWATCH_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
    "AMIWATCH_BUS_NAME": "amiwatch",
    "AWS_REGION": "us-east-1",
    "AMIWATCH_WATCHES": json.dumps([{"name": "golden", "owners": ["self"]}]),
}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"watches": "golden"}, 'event "watches" must be a list of watch names, got "golden"'),
        ({"watches": ["goldne"]}, 'event names unknown watches: goldne (did you mean "golden"?)'),
        ({"target": "golden"}, 'event "target" must be {"watch", "account", "region"}'),
        ({"target": {"account": "self"}}, 'event "target" must be {"watch", "account", "region"}'),
        (["golden"], "the event must be an object"),
    ],
)
def test_a_malformed_event_is_named(event, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(ENV).targets_for(event)

    assert str(error.value).startswith(message)


@pytest.mark.parametrize("lease", ["abc", "0", "-5", "٩٦٠"])
def test_a_lease_that_is_not_a_whole_number_of_seconds_is_named(lease):
    with pytest.raises(ConfigError, match="AMIWATCH_LEASE_SECONDS must be a whole number"):
        Settings.from_env({**ENV, "AMIWATCH_LEASE_SECONDS": lease})


def test_the_digest_threshold_follows_the_rules_of_cdk_json():
    with pytest.raises(ConfigError, match="AMIWATCH_DIGEST_THRESHOLD must be a whole number 1"):
        Settings.from_env({**ENV, "AMIWATCH_DIGEST_THRESHOLD": "0"})


def test_the_forecast_settings_and_their_mistakes():
    settings = Settings.from_env({**ENV, "AMIWATCH_FORECAST_DAYS": "45",
                                  "AMIWATCH_FIX_GRACE_DAYS": "0",
                                  "AMIWATCH_FORECAST_QUIET": "false"})  # fmt: skip

    assert (settings.forecast.days, settings.forecast.fix_grace_days) == (45, 0)
    assert settings.forecast.quiet is False
    with pytest.raises(ConfigError, match="AMIWATCH_FORECAST_QUIET must be"):
        Settings.from_env({**ENV, "AMIWATCH_FORECAST_QUIET": "yes"})
    with pytest.raises(ConfigError, match="AMIWATCH_FORECAST_DAYS must be a whole number"):
        Settings.from_env({**ENV, "AMIWATCH_FORECAST_DAYS": "a month"})


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"forecast": {"watch": "golden", "scheduledAt": "2026-12-07T08:00:00Z"}},
         ("golden", "2026-12-07T08:00:00Z")),
        ({"forecast": {"watch": "golden", "scheduledAt": "<aws.scheduler.scheduled-time>"}},
         '"scheduledAt" \'<aws.scheduler.scheduled-time>\' is not a time'),
        ({"forecast": "golden"}, 'event "forecast" must be {"watch"'),
    ],
)  # fmt: skip
def test_a_forecast_schedule_names_its_watch_and_period(event, expected):
    if isinstance(expected, tuple):
        assert forecast_order(event) == expected
        return
    with pytest.raises(ConfigError) as error:
        forecast_order(event)
    assert expected in str(error.value)
