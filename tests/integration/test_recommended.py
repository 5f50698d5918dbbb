"""\"The recommended AMI changed\": watches of SSM public parameters, against moto's own public
parameters (moved through its backend: moto refuses PutParameter under /aws, as AWS does)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_parameter

from .conftest import register
from .test_delivery import T0

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
ECS = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"
HOUR = timedelta(hours=1)


def watching(*parameters: str):
    return parse_watch({"name": "base", "parameters": list(parameters)})


def run(aws: LocalAws, watch, hours: int):
    target = Target(watch.name, ACCOUNT, REGION)
    return run_watch(watch, target, aws.watch_ports(target), T0 + hours * HOUR,
                     owner=f"run-{hours}")  # fmt: skip


@pytest.fixture
def amis(aws: LocalAws) -> dict[str, str]:
    return {name: register(aws, name) for name in ("al2023-old", "al2023-new", "ecs-new")}


def test_a_parameter_that_moves_is_one_recommended_event_and_the_baseline_is_silent(aws, amis):
    watch = watching(AL2023)
    set_parameter(AL2023, amis["al2023-old"])
    baseline = run(aws, watch, 0)
    set_parameter(AL2023, amis["al2023-new"])

    moved = run(aws, watch, 1)
    again = run(aws, watch, 2)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()
    [chat] = aws.chat_messages()

    assert baseline.summary()["changes"] == {} and baseline.summary()["images"] == 1
    assert moved.summary()["changes"] == {"recommended": 1}
    assert again.summary()["changes"] == {}
    detail = event["detail"]
    assert event["detail-type"] == "AMI Recommended"
    assert detail["reason"] == "parameter-changed"
    assert detail["image"]["ImageId"] == amis["al2023-new"]
    assert detail["previous"] == {"ImageId": amis["al2023-old"], "Name": "al2023-old"}
    assert detail["parameter"]["name"] == AL2023
    assert detail["parameter"]["version"] == detail["parameter"]["previousVersion"] + 1
    assert message["attributes"]["parameter"] == AL2023
    assert chat["content"]["description"].startswith(
        f"*Amazon Linux al2023-ami-kernel-default-x86_64 recommended AMI is now "
        f"{amis['al2023-new']} (was {amis['al2023-old']}).*"
    )
    assert moved.summary()["images"] == 1  # the watch follows the new AMI; the old one left


def test_the_usage_of_a_recommended_event_is_the_previous_ami(aws, amis):
    watch = watching(AL2023)
    set_parameter(AL2023, amis["al2023-old"])
    run(aws, watch, 0)
    aws.shared_client("ec2").run_instances(ImageId=amis["al2023-old"], MinCount=1, MaxCount=1)
    set_parameter(AL2023, amis["al2023-new"])

    run(aws, watch, 1)
    [event] = aws.bus_events()

    assert event["detail"]["usage"]["total"] == 1  # what still runs the AMI no longer recommended
    assert event["detail"]["usage"]["byType"] == {"ec2:Instance": 1}


def test_a_prefix_follows_only_ami_valued_parameters_and_reads_ecs_json(aws, amis):
    watch = watching(f"{ECS}/", ECS)
    set_parameter(f"{ECS}/image_id", amis["al2023-old"])
    ecs_document = {"image_id": amis["al2023-old"], "image_name": "al2023-ami-ecs-hvm",
                    "ecs_agent_version": "1.107.0"}  # fmt: skip
    set_parameter(ECS, json.dumps(ecs_document))
    baseline = run(aws, watch, 0)
    set_parameter(ECS, json.dumps({**ecs_document, "image_id": amis["ecs-new"]}))

    run(aws, watch, 1)
    [event] = aws.bus_events()

    assert baseline.summary()["parameters"] == {"gone": [], "missing": [], "notAmi": []}
    assert baseline.summary()["images"] == 1  # image_id and the JSON document name one AMI
    assert event["detail"]["parameter"]["name"] == ECS
    assert event["detail"]["image"]["ImageId"] == amis["ecs-new"]


def test_a_deleted_parameter_is_reported_once_and_a_non_ami_value_is_skipped(aws, amis):
    version = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/ecs_agent_version"
    watch = watching(AL2023, version)
    set_parameter(AL2023, amis["al2023-old"])
    first = run(aws, watch, 0)
    set_parameter(AL2023, None)

    deleted = run(aws, watch, 1)
    after = run(aws, watch, 2)

    assert first.summary()["parameters"]["notAmi"] == [version]
    assert deleted.summary()["parameters"]["gone"] == [AL2023]
    assert after.summary()["parameters"]["gone"] == []
    assert after.summary()["parameters"]["missing"] == [AL2023]
    assert after.status == "ok" and aws.bus_events() == []
