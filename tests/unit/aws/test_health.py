"""What `amiwatch doctor` makes of AWS's answers, at the sizes and in the shapes moto does not
serve: IAM's simulator over hundreds of member roles, a trail covering many regions, EC2 errors
that are neither "allowed" nor "refused"."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from amiwatch.aws import health
from devtools.doubles.iam_simulation import PolicySimulator

ROLE = "arn:aws:iam::123456789012:role/AmiWatch-WatcherRole"


def member(n: int) -> str:
    return f"arn:aws:iam::{100000000000 + n}:role/AmiWatchMember"


def test_assume_role_over_250_member_roles_is_three_simulations_naming_the_one_refused():
    allowed = [member(n) for n in range(250) if n != 137]
    iam = PolicySimulator({ROLE: [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Resource": allowed}]})  # fmt: skip

    denied = health.denied_actions(iam, ROLE, ["sts:AssumeRole"],
                                   resources=[member(n) for n in range(250)])  # fmt: skip

    assert iam.calls == 3  # 100 resource ARNs per call
    assert denied == [f"sts:AssumeRole (implicitDeny) on {member(137)}"]


class Trails:
    """CloudTrail with one multi-region trail homed in us-east-1 (counts what is asked)."""

    def __init__(self, logging: bool = True) -> None:
        self.logging, self.calls = logging, {"status": 0, "selectors": 0, "describe": 0}

    def describe_trails(self, includeShadowTrails: bool) -> dict[str, Any]:
        self.calls["describe"] += 1
        arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/org"
        return {"trailList": [{"Name": "org", "TrailARN": arn, "HomeRegion": "us-east-1",
                               "IsMultiRegionTrail": True}]}  # fmt: skip

    def get_trail_status(self, Name: str) -> dict[str, Any]:
        self.calls["status"] += 1
        return {"IsLogging": self.logging}

    def get_event_selectors(self, TrailName: str) -> dict[str, Any]:
        self.calls["selectors"] += 1
        return {"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]}]}  # fmt: skip


def test_one_trail_covering_17_regions_is_asked_about_once():
    trails = Trails()
    regions = [f"r-{n}" for n in range(17)]

    found = health.management_trails(lambda _region: trails, regions)

    assert all(f.ok for f in found.values()) and list(found) == regions
    assert trails.calls == {"status": 1, "selectors": 1, "describe": 17}


def test_a_trail_that_is_off_fails_every_region_it_covers():
    found = health.management_trails(lambda _region: Trails(logging=False), ["a", "b"])

    assert [f.detail for f in found.values()] == [
        "no trail logs write management events in a (found: org (off))",
        "no trail logs write management events in b (found: org (off))",
    ]


class Ec2:
    """Answers dry runs with `codes` (action -> error code), as EC2 does."""

    def __init__(self, codes: dict[str, str], settings: Any = None) -> None:
        self.codes, self.settings = codes, settings

    def __getattr__(self, method: str) -> Any:
        def call(**params: Any) -> Any:
            if method == "get_allowed_images_settings" and not params.get("DryRun"):
                if isinstance(self.settings, Exception):
                    raise self.settings
                return self.settings or {"State": "enabled", "ImageCriteria": [{}, {}]}
            action = next(a for a, (m, _) in health.DRY_RUNS.items() if m == method)
            code = self.codes.get(action, "DryRunOperation")
            raise ClientError({"Error": {"Code": code, "Message": code}}, method)

        return call


def test_dry_runs_name_what_is_refused_and_read_the_allowed_amis():
    denied, allowed = health.target_checks(Ec2({"ec2:GetImageFindings": "UnauthorizedOperation"}))

    assert denied == ["ec2:GetImageFindings"]
    assert allowed == "Allowed AMIs enabled, 2 criteria"


@pytest.mark.parametrize(
    "codes",
    [{"ec2:DescribeImages": "OptInRequired"}, {"ec2:GetImageFindings": "RequestLimitExceeded"}],
)
def test_an_error_that_is_neither_allowed_nor_refused_is_not_a_pass(codes):
    with pytest.raises(ClientError):
        health.target_checks(Ec2(codes))


def test_allowed_amis_that_cannot_be_read_are_not_a_pass():
    refused = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Get")

    with pytest.raises(ClientError):
        health.target_checks(Ec2({}, settings=refused))
