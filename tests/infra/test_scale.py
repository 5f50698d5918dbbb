"""Ten watches of 2,000 static targets each (500 accounts x 4 regions): a template that
CloudFormation takes and policies IAM and EventBridge accept, whatever the number of targets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.synth import TEST_CONTEXT, synthesize

ACCOUNTS = ["self", *({"id": f"{i:012d}"} for i in range(1, 500))]
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
# What AWS accepts (characters, not counting whitespace for IAM).
ROLE_INLINE_POLICIES, MANAGED_POLICY, BUS_POLICY = 10_240, 6_144, 10_240
TEMPLATE_BYTES, RESOURCES = 1_000_000, 500  # a template uploaded to S3; resources per stack
# What a token stands for once deployed, at its longest.
ARN = "arn:aws-us-gov:service:us-gov-west-1:123456789012:resource/" + "x" * 64
REFS = {"AWS::Partition": "aws-us-gov", "AWS::Region": "us-gov-west-1",
        "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip


def deployed(value: Any) -> Any:
    """The value with CloudFormation's functions replaced by what they would be at most."""
    if isinstance(value, list):
        return [deployed(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(deployed(p)) for p in parts)
    if "Ref" in value:
        return REFS.get(value["Ref"], ARN)
    if "Fn::GetAtt" in value:
        return ARN
    return {k: deployed(v) for k, v in value.items()}


def size(policy: Any) -> int:
    return len(json.dumps(deployed(policy), separators=(",", ":")))


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Any:
    context = json.loads(json.dumps(TEST_CONTEXT))
    context["amiwatch"]["watches"] = [
        {"name": f"fleet{n}", "owners": ["self"], "accounts": ACCOUNTS, "regions": REGIONS}
        for n in range(10)
    ]
    return synthesize(context, tmp_path_factory.mktemp("large"))


def test_twenty_thousand_targets_are_one_schedule_per_watch_and_a_template_far_from_limits(
    large, synthesized
):
    resources = large.template["Resources"]
    template_bytes = len(json.dumps(large.template))

    assert len(large.resources("AWS::Scheduler::Schedule")) == 20  # a dispatch, a forecast each
    alarms = large.resources("AWS::CloudWatch::Alarm").keys()
    assert alarms == synthesized.resources("AWS::CloudWatch::Alarm").keys()  # none per target
    assert len(resources) < RESOURCES / 4
    assert template_bytes < TEMPLATE_BYTES / 4
    biggest = max(resources, key=lambda k: len(json.dumps(resources[k])))
    assert len(json.dumps(resources[biggest])) < 16_000, biggest  # nothing lists the targets


def test_the_watcher_role_assumes_hundreds_of_members_by_role_name_within_iam_limits(large):
    roles = {k: r for k, r in large.resources("AWS::IAM::Role").items() if "WatcherRole" in k}
    [(role_id, _)] = roles.items()
    inline = [p for p in large.resources("AWS::IAM::Policy").values()
              if {"Ref": role_id} in p["Properties"]["Roles"]]  # fmt: skip
    managed = [p for p in large.resources("AWS::IAM::ManagedPolicy").values()
               if {"Ref": role_id} in p["Properties"].get("Roles", [])]  # fmt: skip
    statements = [s for p in inline for s in p["Properties"]["PolicyDocument"]["Statement"]]
    [assume] = [s for s in statements if s["Action"] == "sts:AssumeRole"]

    assert deployed(assume["Resource"]) == "arn:aws-us-gov:iam::*:role/AmiWatchMember"
    assert sum(size(p["Properties"]["PolicyDocument"]) for p in inline) <= ROLE_INLINE_POLICIES
    assert all(size(p["Properties"]["PolicyDocument"]) <= MANAGED_POLICY for p in managed)


def test_the_intake_bus_lists_five_hundred_members_within_eventbridges_policy_size(large):
    statements = [p["Properties"]["Statement"]
                  for p in large.resources("AWS::Events::EventBusPolicy").values()]  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": statements}

    [listed] = statements
    assert len(listed["Condition"]["StringEquals"]["aws:PrincipalAccount"]) == 499
    assert size(policy) <= BUS_POLICY
