"""What will break, and when: the forecast against moto, with the doubles for what moto lacks
(Allowed AMIs, ScanResults, DescribeImageReferences), and through the handler the way the
forecast schedule, the target queue and the fan-in to people run it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from amiwatch.aws.forecasts import stored_records
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry.cli import main
from amiwatch.entry.handler import handler
from amiwatch.judge.forecast import Horizon
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.forecast import ForecastResult, forecast_target
from amiwatch.run.pipeline import run_watch
from amiwatch.wiring import runs as edges_module
from devtools.doubles.image_findings import Inspector
from devtools.doubles.image_references import answer_for_new_clients, answer_image_references
from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

from .conftest import FakeLambdaContext
from .mapped_queue import MappedQueue

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PERIOD = "2026-12-07T08:00:00Z"
GOLDEN = parse_watch({"name": "golden", "owners": ["self"]})
VENDORS = parse_watch({"name": "vendors", "owners": ["amazon"]})
SCHEMA = Path(__file__).parents[2] / "docs" / "schemas" / "amiwatch-forecast-v1.json"


def aws_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def image(aws: LocalAws, name: str, *, created: datetime, used: bool = False, **attrs: Any) -> str:
    ec2 = aws.shared_client("ec2")
    image_id: str = ec2.register_image(Name=name)["ImageId"]
    set_image(image_id, creation_date=created, **attrs)
    if used:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
    return image_id


def scan(aws: LocalAws, watch, *, visibility: Ec2Visibility | None = None,
         inspector: Inspector | None = None) -> None:  # fmt: skip
    """A scheduled run: what the forecast reads is what it recorded."""
    ec2 = answer_image_references(aws.client("ec2"))
    for double in (visibility, inspector):
        ec2 = double.install(ec2) if double else ec2
    target = Target(watch.name, ACCOUNT, REGION)
    ports = replace(aws.watch_ports(target), images=Ec2Images(ec2))
    run_watch(watch, target, ports, NOW - timedelta(hours=1), owner="scan")


def forecast(aws: LocalAws, watch, *, visibility: Ec2Visibility | None = None,
             refuse: str | None = None) -> ForecastResult:  # fmt: skip
    ec2 = answer_image_references(aws.client("ec2"), refuse=refuse)
    ec2 = visibility.install(ec2) if visibility else ec2
    target = Target(watch.name, ACCOUNT, REGION)
    store = DynamoSnapshotStore(aws.shared_client("dynamodb"), aws.table_name, target)
    return forecast_target(watch, target, stored_records(store), Ec2Images(ec2), NOW, Horizon(),
                           period=PERIOD, bus_name=aws.bus_name)  # fmt: skip


def test_an_image_in_use_deprecating_within_the_horizon_is_a_row_with_its_replacement(aws):
    created = NOW - timedelta(days=60)
    soon = image(aws, "golden-2026-10", created=created, used=True,
                 deprecation_time=aws_time(NOW + timedelta(days=10)))  # fmt: skip
    image(aws, "golden-2026-09", created=created - timedelta(days=30), used=True,
          deprecation_time=aws_time(NOW + timedelta(days=40)))  # fmt: skip
    image(aws, "golden-2026-08", created=created - timedelta(days=60),
          deprecation_time=aws_time(NOW + timedelta(days=10)))  # fmt: skip
    newest = image(aws, "golden-2026-12", created=NOW - timedelta(days=1))
    scan(aws, GOLDEN)

    result = forecast(aws, GOLDEN)
    [row] = result.rows

    assert row["image"]["ImageId"] == soon and row["happens"] == "deprecated"
    assert row["at"] == (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["usage"] == {"total": 1, "byType": {"ec2:Instance": 1}, "error": None}
    assert row["replacement"]["ImageId"] == newest
    assert (result.images, result.due, result.reference_calls) == (4, 2, 1)  # 2 ids: one call
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(result.detail)


def test_an_allowed_amis_criterion_an_image_ages_out_of_dates_its_row(aws):
    vendor = image(aws, "al2023-ami-2026.02", created=NOW - timedelta(days=290), used=True)
    set_image(vendor, owner_id="137112412989", owner_alias="amazon")
    aws.shared_client("ec2").modify_image_attribute(
        ImageId=vendor, LaunchPermission={"Add": [{"Group": "all"}]}
    )
    criteria = [{"ImageProviders": ["amazon"],
                 "CreationDateCondition": {"MaximumDaysSinceCreated": 300}}]  # fmt: skip
    visibility = Ec2Visibility(ACCOUNT, REGION, AllowedAmis("enabled", criteria))
    scan(aws, VENDORS, visibility=visibility)

    [row] = forecast(aws, VENDORS, visibility=visibility).rows

    assert row["image"]["ImageId"] == vendor and row["happens"] == "disallowed"
    assert row["at"] == (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "created within 300 days" in row["why"]


def test_a_critical_finding_with_a_fix_for_longer_than_the_grace_is_an_overdue_row(aws):
    late = image(aws, "golden-2026-10", created=NOW - timedelta(days=60), used=True)
    recent = image(aws, "golden-2026-11", created=NOW - timedelta(days=30), used=True)

    def critical(days: int) -> dict[str, Any]:
        return {"HighestFindingSeverityLabel": "critical", "FindingScanDate": NOW,
                "CriticalFixAvailableSince": NOW - timedelta(days=days)}  # fmt: skip

    scan(aws, GOLDEN, inspector=Inspector(scans={late: critical(20), recent: critical(5)}))

    [row] = forecast(aws, GOLDEN).rows

    assert row["image"]["ImageId"] == late and row["happens"] == "fix-overdue"
    assert row["overdue"] is True and row["at"] < "2026-12-01"
    assert row["why"].startswith("CRITICAL fix available since") and "(20 days)" in row["why"]


def test_a_usage_lookup_denied_keeps_the_row_and_says_why(aws):
    soon = image(aws, "golden-2026-10", created=NOW - timedelta(days=60),
                 deprecation_time=aws_time(NOW + timedelta(days=3)))  # fmt: skip
    scan(aws, GOLDEN)

    [row] = forecast(aws, GOLDEN, refuse="UnauthorizedOperation").rows

    assert row["image"]["ImageId"] == soon
    assert row["usage"]["total"] is None
    assert row["usage"]["error"].startswith("UnauthorizedOperation")


# --- through the handler: schedule -> dispatch -> target queue -> event, fan-in -> people ---


@pytest.fixture
def forecast_env(aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    queue = MappedQueue(aws, "targets", 5400)
    watches = tmp_path / "watches.json"
    watches.write_text(json.dumps({"watches": [{"name": "golden", "owners": ["self"],
                                                "regions": [REGION, "eu-west-1"]}]}))  # fmt: skip
    for name, value in {
        "AMIWATCH_TABLE": aws.table_name, "AMIWATCH_TOPIC_ARN": aws.topic_arn,
        "AMIWATCH_CHAT_TOPIC_ARN": aws.chat_topic_arn, "AMIWATCH_BUS_NAME": aws.bus_name,
        "AMIWATCH_WATCHES_FILE": str(watches), "AWS_REGION": REGION,
        "AMIWATCH_TARGET_QUEUE_URL": queue.url,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    edges_module._target_clients.cache_clear()
    answer_for_new_clients()
    undo = Ec2Visibility(ACCOUNT, REGION, shares=False).install_for_new_clients()
    yield queue
    undo()


def run_forecast(queue: MappedQueue, period: str = PERIOD) -> dict[str, Any]:
    """The forecast schedule's invocation, then every order it queued, one per invocation."""
    summary = handler({"forecast": {"watch": "golden", "scheduledAt": period}},
                      FakeLambdaContext())  # fmt: skip
    while queue.visible():
        assert queue.deliver(size=1)["batchItemFailures"] == []
    return summary


def test_a_forecast_run_sends_one_event_per_target_and_people_one_message(aws, forecast_env):
    now = datetime.now(UTC)
    image(aws, "golden-2026-10", created=now - timedelta(days=60), used=True,
          deprecation_time=aws_time(now + timedelta(days=5)))  # fmt: skip
    handler({"watches": ["golden"]}, FakeLambdaContext())  # the baseline of both regions

    summary = run_forecast(forecast_env)
    events, people = aws.bus_events(), aws.people_messages()
    [chat] = aws.chat_messages()

    assert summary["forecast"]["targets"] == summary["forecast"]["enqueued"] == 2
    [event] = events  # eu-west-1 has nothing due: quiet, no event
    assert event["detail-type"] == "AMI Forecast" and event["detail"]["region"] == REGION
    assert event["detail"]["rows"][0]["happens"] == "deprecated"
    [message] = people
    assert message["attributes"]["change"] == "forecast"
    assert message["detail"]["rowsTotal"] == 1 and message["detail"]["targets"] == 2
    assert chat["content"]["title"].startswith("CRITICAL: AMI forecast: 1 in use due within 30")

    again = run_forecast(forecast_env)  # the same period, e.g. a retried schedule invocation
    [repeat] = aws.bus_events()

    assert again["forecast"]["enqueued"] == 2
    assert repeat["detail"]["eventId"] == event["detail"]["eventId"]
    assert aws.people_messages() == [] and aws.chat_messages() == []  # people heard it once


def test_nothing_due_sends_nothing(aws, forecast_env):
    image(aws, "golden-2026-11", created=datetime.now(UTC) - timedelta(days=10), used=True)
    handler({"watches": ["golden"]}, FakeLambdaContext())

    run_forecast(forecast_env)

    assert aws.bus_events() == [] and aws.people_messages() == [] and aws.chat_messages() == []


def test_amiwatch_forecast_prints_the_rows_and_exits_1_when_something_is_due(
    aws, forecast_env, tmp_path, capsys
):
    now = datetime.now(UTC)
    soon = image(aws, "golden-2026-10", created=now - timedelta(days=60), used=True,
                 deprecation_time=aws_time(now + timedelta(days=12)))  # fmt: skip
    handler({"watches": ["golden"]}, FakeLambdaContext())
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"amiwatch": {"watches": [
        {"name": "golden", "owners": ["self"], "regions": [REGION, "eu-west-1"]}]}}}))  # fmt: skip
    flags = ["forecast", "--config", str(config), "--table", aws.table_name, "--region", REGION]
    capsys.readouterr()  # the baseline's log lines and metrics

    due = main(flags)
    table = capsys.readouterr().out.splitlines()
    as_json = main([*flags, "--json"])
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    later = main([*flags, "--days", "10"])
    quiet = capsys.readouterr().out
    wrong = main([*flags, "--days", "0"])

    assert due == as_json == 1 and later == 0 and wrong == 2
    assert table[0].split()[:3] == ["WHEN", "HAPPENS", "IMAGE"]
    assert soon in table[1] and "deprecated" in table[1] and "1 instance" in table[1]
    assert row["image"]["ImageId"] == soon and row["region"] == REGION
    assert quiet.strip() == "nothing in use is due"
    assert "--days must be a whole number of days 1..365" in capsys.readouterr().err


def test_forecast_quiet_false_sends_every_target_s_event_and_a_nothing_due_message(
    aws, forecast_env, monkeypatch
):
    monkeypatch.setenv("AMIWATCH_FORECAST_QUIET", "false")
    image(aws, "golden-2026-11", created=datetime.now(UTC) - timedelta(days=10), used=True)
    handler({"watches": ["golden"]}, FakeLambdaContext())

    run_forecast(forecast_env)
    events, [message] = aws.bus_events(), aws.people_messages()
    [chat] = aws.chat_messages()

    assert sorted(e["detail"]["region"] for e in events) == ["eu-west-1", REGION]
    assert all(e["detail"]["rows"] == [] and e["detail"]["rowsTotal"] == 0 for e in events)
    assert message["detail"]["rowsTotal"] == 0 and message["attributes"]["change"] == "forecast"
    assert chat["content"]["title"].startswith("INFO: AMI forecast: 0 in use due")
