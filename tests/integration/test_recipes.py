"""docs/recipes.md's rule patterns, routed by moto's EventBridge over real amiwatch events."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from devtools.local_aws import LocalAws, set_image

from .conftest import register
from .test_delivery import T0, run

RECIPES = Path(__file__).parents[2] / "docs" / "recipes.md"
BLOCK = re.compile(r"<!-- recipe: ([\w-]+) -->\s*```json\n(.*?)```", re.DOTALL)


def recipes() -> dict[str, dict]:
    return {name: json.loads(body) for name, body in BLOCK.findall(RECIPES.read_text())}


def route(aws: LocalAws, patterns: dict[str, dict]) -> dict[str, str]:
    """One rule per recipe on the bus, each with its own queue."""
    events, sqs = aws.client("events"), aws.client("sqs")
    queues = {}
    for name, pattern in patterns.items():
        url = sqs.create_queue(QueueName=f"recipe-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        events.put_rule(Name=name, EventBusName=aws.bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=aws.bus_name,
                           Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}])  # fmt: skip
        queues[name] = url
    return queues


def received(aws: LocalAws, url: str) -> list[str]:
    sqs, images = aws.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            images.append(json.loads(message["Body"])["detail"]["image"]["Name"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(images)


def test_each_recipe_receives_exactly_its_events(aws):
    patterns = recipes()
    queues = route(aws, patterns)
    ec2 = aws.client("ec2")
    names = ["client-failed", "server-failed", "made-public", "renamed-desc", "retiring",
             "public-to-private", "al2023-ami-2023.5.20260101.0-kernel-6.1-x86_64"]  # fmt: skip
    ids = {name: register(aws, name) for name in names}
    ec2.modify_image_attribute(ImageId=ids["public-to-private"],
                               LaunchPermission={"Add": [{"Group": "all"}]})  # fmt: skip
    run(aws)  # baseline
    register(aws, "al2023-ami-2023.6.20261127.0-kernel-6.1-x86_64")
    register(aws, "golden-2026-11")
    set_image(
        ids["client-failed"],
        state="failed",
        state_reason={"Code": "Client.InvalidSnapshot.NotFound", "Message": "gone"},
    )
    set_image(
        ids["server-failed"],
        state="failed",
        state_reason={"Code": "Server.InternalError", "Message": "boom"},
    )
    ec2.modify_image_attribute(
        ImageId=ids["made-public"], LaunchPermission={"Add": [{"Group": "all"}]}
    )
    ec2.modify_image_attribute(
        ImageId=ids["public-to-private"], LaunchPermission={"Remove": [{"Group": "all"}]}
    )
    set_image(ids["renamed-desc"], description="v2")
    soon = (T0 + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    set_image(ids["retiring"], deprecation_time=soon)  # fmt: skip

    result = run(aws, T0 + timedelta(hours=1))

    assert set(patterns) == {"new-al2023", "client-failure", "made-public", "deprecation-imminent",
                             "deprecated-in-use", "cannot-launch-in-use", "critical-in-use",
                             "eks-recommended", "forecast-rows"}  # fmt: skip
    assert result.summary()["changes"] == {
        "new": 2, "failed": 2, "updated": 3, "deprecation-scheduled": 1,
        "deprecation-imminent": 1,
    }  # fmt: skip
    assert received(aws, queues["new-al2023"]) == ["al2023-ami-2023.6.20261127.0-kernel-6.1-x86_64"]
    assert received(aws, queues["client-failure"]) == ["client-failed"]
    assert received(aws, queues["made-public"]) == ["made-public"]
    assert received(aws, queues["deprecation-imminent"]) == ["retiring"]

    # An older AL2023 image that leaves the watch and comes back is not a release.
    older = ids["al2023-ami-2023.5.20260101.0-kernel-6.1-x86_64"]
    for hours, team in ((2, "data"), (3, "platform")):
        ec2.create_tags(Resources=[older], Tags=[{"Key": "team", "Value": team}])
        run(aws, T0 + timedelta(hours=hours))
    assert received(aws, queues["new-al2023"]) == []


def test_only_deprecations_that_hit_something_reach_the_in_use_rule(aws):
    queues = route(aws, {"deprecated-in-use": recipes()["deprecated-in-use"]})
    ids = {name: register(aws, name) for name in ("golden-used", "golden-idle", "golden-other")}
    run(aws)  # baseline
    for name in ("golden-used", "golden-other"):
        aws.shared_client("ec2").run_instances(ImageId=ids[name], MinCount=1, MaxCount=1)
    past = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for name in ("golden-used", "golden-idle"):
        set_image(ids[name], deprecation_time=past)
    set_image(ids["golden-other"], description="changed, and in use")

    run(aws, T0 + timedelta(hours=1))

    assert received(aws, queues["deprecated-in-use"]) == ["golden-used"]


def test_only_eks_recommended_amis_reach_the_node_group_rule(aws):
    from amiwatch.model.contract import Target
    from amiwatch.model.watch_config import parse_watch
    from amiwatch.run.pipeline import run_watch
    from devtools.local_aws import ACCOUNT, REGION, set_parameter

    eks = (
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"
    )
    al2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    queues = route(aws, {"eks-recommended": recipes()["eks-recommended"]})
    ids = {name: register(aws, name) for name in ("eks-1", "eks-2", "al-1", "al-2")}
    watch = parse_watch({"name": "base", "parameters": [eks, al2023]})
    target = Target(watch.name, ACCOUNT, REGION)
    set_parameter(eks, ids["eks-1"])
    set_parameter(al2023, ids["al-1"])
    run_watch(watch, target, aws.watch_ports(target), T0, owner="baseline")
    set_parameter(eks, ids["eks-2"])
    set_parameter(al2023, ids["al-2"])

    result = run_watch(watch, target, aws.watch_ports(target), T0 + timedelta(hours=1), owner="r")

    assert result.summary()["changes"] == {"recommended": 2}
    assert received(aws, queues["eks-recommended"]) == ["eks-2"]


def test_only_images_in_use_that_can_no_longer_be_launched_reach_the_move_rule(aws):
    from amiwatch.aws.scan import Ec2Images
    from amiwatch.model.contract import Target
    from amiwatch.model.watch_config import parse_watch
    from amiwatch.run.pipeline import run_watch
    from devtools.doubles.image_references import answer_image_references
    from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility
    from devtools.local_aws import ACCOUNT, REGION

    queues = route(aws, {"cannot-launch-in-use": recipes()["cannot-launch-in-use"]})
    ec2 = aws.shared_client("ec2")
    ids = {}
    for name, owner in (("vendor-used", "137112412989"), ("vendor-idle", "137112412989"),
                        ("shared-used", "444455556666")):  # fmt: skip
        ids[name] = ec2.register_image(Name=name)["ImageId"]
        ec2.modify_image_attribute(ImageId=ids[name], LaunchPermission={"Add": [{"Group": "all"}]})
        set_image(ids[name], owner_id=owner, owner_alias="amazon" if owner[0] == "1" else None)
    for name in ("vendor-used", "shared-used"):
        ec2.run_instances(ImageId=ids[name], MinCount=1, MaxCount=1)
    watch = parse_watch({"name": "bought", "owners": ["137112412989", "444455556666"]})
    target = Target(watch.name, ACCOUNT, REGION)
    visibility = Ec2Visibility(ACCOUNT, REGION)
    scanner = visibility.install(answer_image_references(aws.client("ec2")))
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner))
    run_watch(watch, target, ports, T0, owner="baseline")
    visibility.allowed = AllowedAmis("enabled", [{"ImageProviders": ["444455556666"]}],
                                     refused={ids["vendor-used"], ids["vendor-idle"]})  # fmt: skip
    ec2.modify_image_attribute(ImageId=ids["shared-used"],
                               LaunchPermission={"Remove": [{"Group": "all"}]})  # fmt: skip

    result = run_watch(watch, target, ports, T0 + timedelta(hours=1), owner="r")

    assert result.summary()["changes"] == {"disallowed": 2, "unavailable": 1}
    assert received(aws, queues["cannot-launch-in-use"]) == ["shared-used", "vendor-used"]


def test_only_critical_images_in_use_reach_the_page_rule(aws):
    from datetime import UTC, datetime

    from amiwatch.aws.scan import Ec2Images
    from amiwatch.model.contract import Target
    from amiwatch.run.pipeline import run_watch
    from devtools.doubles.image_findings import Inspector
    from devtools.doubles.image_references import answer_image_references
    from devtools.local_aws import ACCOUNT, REGION

    queues = route(aws, {"critical-in-use": recipes()["critical-in-use"]})
    ids = {name: register(aws, name) for name in ("critical-used", "critical-idle", "high-used")}
    for name in ("critical-used", "high-used"):
        aws.shared_client("ec2").run_instances(ImageId=ids[name], MinCount=1, MaxCount=1)
    inspector = Inspector()
    scanner = inspector.install(answer_image_references(aws.client("ec2")))
    target = Target("golden", ACCOUNT, REGION)
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner))
    from .test_delivery import WATCH

    run_watch(WATCH, target, ports, T0, owner="baseline")
    scanned = datetime(2026, 11, 30, tzinfo=UTC)
    for name, label in (("critical-used", "critical"), ("critical-idle", "critical"),
                        ("high-used", "high")):  # fmt: skip
        inspector.scans[ids[name]] = {"HighestFindingSeverityLabel": label,
                                      "FindingScanDate": scanned}  # fmt: skip

    result = run_watch(WATCH, target, ports, T0 + timedelta(hours=1), owner="r")

    assert result.summary()["changes"] == {"vulnerable": 3}
    assert received(aws, queues["critical-in-use"]) == ["critical-used"]


def test_only_forecasts_with_rows_reach_the_ticket_rule(aws):
    from datetime import UTC, datetime

    from amiwatch.aws.forecasts import put_one_event
    from amiwatch.judge.forecast import Horizon
    from amiwatch.messages.forecast import forecast_event
    from amiwatch.model.contract import Target
    from amiwatch.model.watch_config import parse_watch
    from devtools.local_aws import ACCOUNT, REGION

    queues = route(aws, {"forecast-rows": recipes()["forecast-rows"]})
    watch, now = parse_watch({"name": "golden", "owners": ["self"]}), datetime.now(UTC)
    row = {"image": {"ImageId": "ami-0123456789abcdef0", "Name": "golden-2026-06"},
           "happens": "deprecated", "at": "2026-12-17T00:00:00Z", "overdue": False,
           "why": "DeprecationTime", "usage": {"total": 1, "byType": {}, "error": None},
           "replacement": None}  # fmt: skip
    for region, rows in (("eu-west-1", [row]), (REGION, [])):  # one due, one quiet: nothing
        target = Target(watch.name, ACCOUNT, region)
        _, entry = forecast_event(target, "p", now, Horizon(), watch, rows, aws.bus_name)
        put_one_event(aws.client("events"), entry)

    sqs = aws.client("sqs")
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=queues["forecast-rows"], MaxNumberOfMessages=10).get("Messages", [])]  # fmt: skip

    assert [(b["detail-type"], b["detail"]["region"]) for b in bodies] == [
        ("AMI Forecast", "eu-west-1")]  # fmt: skip


def test_no_recipe_receives_a_test_alert(aws):
    from datetime import UTC, datetime

    from amiwatch.aws.forecasts import put_one_event
    from amiwatch.messages.alert import alert_bus_entry, alert_detail
    from amiwatch.model.contract import Target
    from devtools.local_aws import ACCOUNT, REGION

    patterns = recipes()
    queues = route(aws, patterns)
    catch_all = route(aws, {"anything-amiwatch": {"source": ["amiwatch"]}})
    now = datetime.now(UTC)
    detail = alert_detail(Target("golden", ACCOUNT, REGION), now)

    put_one_event(aws.client("events"), alert_bus_entry(detail, aws.bus_name, now))

    sqs = aws.client("sqs")
    got = {name: sqs.receive_message(QueueUrl=url).get("Messages", []) for name, url in
           {**queues, **catch_all}.items()}  # fmt: skip
    assert {name for name, messages in got.items() if messages} == {"anything-amiwatch"}
    assert len(patterns) >= 6
