"""The dashboard an operator opens first: its widgets, read back from the template."""

from __future__ import annotations

import json
from typing import Any


def dashboard_widgets(synthesized: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The dashboard's name and widgets; CloudFormation tokens in its body read as "<ref>"."""
    _, dashboard = synthesized.one("AWS::CloudWatch::Dashboard")
    separator, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    body = separator.join(p if isinstance(p, str) else "<ref>" for p in parts)
    return dashboard["Properties"]["DashboardName"], json.loads(body)["widgets"]


def test_the_dashboard_shows_what_an_operator_asks_first(synthesized):
    name, widgets = dashboard_widgets(synthesized)
    by_title = {w["properties"].get("title"): w["properties"] for w in widgets}

    assert name == {"Fn::Join": ["", ["amiwatch-test-", {"Ref": "AWS::Region"}]]}
    assert list(by_title) == [
        "Changes per kind", "Runs and failures", "Stale targets (no success in two periods)",
        "Run duration against the timeout (ms)", "Queues and dead letters (messages)", "Alarms",
    ]  # fmt: skip
    [changes] = by_title["Changes per kind"]["metrics"]
    assert changes[0]["expression"] == "SELECT SUM(Changes) FROM amiwatch GROUP BY change"
    runs = by_title["Runs and failures"]["metrics"]
    assert runs[0][0]["expression"] == "SELECT SUM(SuccessfulRuns) FROM amiwatch"
    assert runs[1][:4] == ["amiwatch", "TargetFailures", "service", "amiwatch"]
    assert runs[2][:2] == ["AWS/Lambda", "Errors"]
    stale = by_title["Stale targets (no success in two periods)"]
    assert stale["metrics"][0][:4] == ["amiwatch", "StaleTargets", "service", "amiwatch"]
    assert stale["annotations"]["horizontal"][0]["value"] == 1
    duration = by_title["Run duration against the timeout (ms)"]
    assert [m[-1]["stat"] for m in duration["metrics"]] == ["Maximum", "p90"]
    assert duration["annotations"]["horizontal"][0] == {"value": 900_000, "label": "timeout",
                                                        "yAxis": "left"}  # fmt: skip
    queues = by_title["Queues and dead letters (messages)"]["metrics"]
    labels = [(m[-1]["label"], m[-1].get("yAxis", "left")) for m in queues]
    assert labels == [("targets", "left"), ("refresh", "left"), ("invocations DLQ", "right"),
                      ("targets DLQ", "right"), ("refresh DLQ", "right")]  # fmt: skip
    alarms = by_title["Alarms"]["alarms"]
    assert len(alarms) == len(synthesized.resources("AWS::CloudWatch::Alarm")) == 8
