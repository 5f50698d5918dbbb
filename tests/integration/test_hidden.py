"""Alerts that stay true when AWS hides an image: Allowed AMIs, unshared and disabled images.

moto models none of it: devtools.doubles.image_visibility gives the scanning client EC2's behaviour
(Allowed AMIs filtering and ImageAllowed, launch permissions, DisableImage), and states which
images the criteria refuse, so amiwatch's own reading of the criteria is checked against it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from amiwatch.aws.scan import Ec2Images
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.doubles.image_references import answer_image_references
from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
VENDORS = parse_watch({"name": "vendors", "owners": ["amazon", "aws-marketplace"]})
SHARED = parse_watch({"name": "shared", "owners": ["444455556666"]})
OWN = parse_watch({"name": "own", "owners": ["self"]})
AMAZON_ONLY = [{"ImageProviders": ["amazon"]}]


CLIENTS: dict[int, object] = {}


def scanner(aws: LocalAws, visibility: Ec2Visibility):
    """One EC2 client per test with EC2's visibility (and DescribeImageReferences) on it."""
    if id(visibility) not in CLIENTS:
        CLIENTS.clear()
        CLIENTS[id(visibility)] = visibility.install(answer_image_references(aws.client("ec2")))
    return CLIENTS[id(visibility)]


def run(aws: LocalAws, visibility: Ec2Visibility, watch, hours: int):
    target = Target(watch.name, ACCOUNT, REGION)
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner(aws, visibility)))
    return run_watch(watch, target, ports, T0 + hours * HOUR, owner=f"run-{hours}")


def image(aws: LocalAws, name: str, owner: str, alias: str | None, *, public: bool = True) -> str:
    ec2 = aws.shared_client("ec2")
    image_id: str = ec2.register_image(Name=name, Description=name)["ImageId"]
    if public:
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    set_image(image_id, owner_id=owner, owner_alias=alias)
    return image_id


@pytest.fixture
def vendors(aws: LocalAws) -> tuple[Ec2Visibility, dict[str, str]]:
    visibility = Ec2Visibility(ACCOUNT, REGION)
    ids = {
        "amazon": image(aws, "al2023-ami-2023.9", "137112412989", "amazon"),
        "marketplace": image(aws, "cis-hardened-rhel9", "679593333241", "aws-marketplace"),
    }
    run(aws, visibility, VENDORS, 0)  # the baseline, Allowed AMIs disabled
    return visibility, ids


def test_enabled_criteria_that_exclude_a_vendor_image_make_one_disallowed(aws, vendors):
    visibility, ids = vendors
    visibility.allowed = AllowedAmis("enabled", AMAZON_ONLY, refused={ids["marketplace"]})

    result = run(aws, visibility, VENDORS, 1)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()
    unchanged = run(aws, visibility, VENDORS, 2)

    assert result.summary()["changes"] == {"disallowed": 1}  # and no `deregistered`
    assert event["detail-type"] == "AMI Disallowed"
    assert event["detail"]["reason"] == "allowed-amis"
    assert event["detail"]["image"]["ImageId"] == ids["marketplace"]
    assert event["detail"]["image"]["ImageAllowed"] is False
    assert event["detail"]["usage"]["total"] == 0
    assert message["attributes"]["change"] == "disallowed"
    assert result.summary()["allowedImages"]["state"] == "enabled"
    assert visibility.settings_calls == 1
    assert unchanged.summary()["changes"] == {}
    assert visibility.settings_calls == 1  # nothing vanished: no settings call
    assert [n["content"]["title"].split(":")[0] for n in aws.chat_messages()] == ["WARNING"]


def test_an_image_allowed_again_is_one_updated_never_new(aws, vendors):
    visibility, ids = vendors
    visibility.allowed = AllowedAmis("enabled", AMAZON_ONLY, refused={ids["marketplace"]})
    run(aws, visibility, VENDORS, 1)
    aws.bus_events()
    visibility.allowed = AllowedAmis("enabled", [], refused=set())  # the criteria edited

    result = run(aws, visibility, VENDORS, 2)
    [event] = aws.bus_events()

    assert result.summary()["changes"] == {"updated": 1}
    assert event["detail"]["changedFields"] == ["ImageAllowed"]
    assert event["detail"]["previous"] == {"ImageAllowed": False}
    assert event["detail"]["image"]["ImageAllowed"] is True
    assert run(aws, visibility, VENDORS, 3).summary()["changes"] == {}


def test_an_audit_mode_flip_is_one_disallowed_and_turning_it_on_is_no_news(aws, vendors):
    visibility, ids = vendors
    visibility.allowed = AllowedAmis("audit-mode", AMAZON_ONLY, refused={ids["marketplace"]})

    result = run(aws, visibility, VENDORS, 1)
    [event] = aws.bus_events()

    assert result.summary()["changes"] == {"disallowed": 1}  # the amazon image: ImageAllowed true
    assert result.summary()["silent"] == {"allowed-marked": 1}
    assert event["detail"]["image"]["ImageId"] == ids["marketplace"]
    assert event["detail"]["previous"] == {"ImageAllowed": None}
    assert result.summary()["allowedImages"]["state"] == "audit-mode"
    assert visibility.settings_calls == 1
    assert run(aws, visibility, VENDORS, 2).summary()["changes"] == {}
    assert visibility.settings_calls == 1


def test_criteria_that_cannot_be_read_leave_unavailable_and_the_summary_says_why(aws, vendors):
    visibility, ids = vendors
    visibility.allowed = AllowedAmis("enabled", AMAZON_ONLY, refused={ids["marketplace"]},
                                     refuse_call="UnauthorizedOperation")  # fmt: skip

    result = run(aws, visibility, VENDORS, 1)
    [event] = aws.bus_events()

    assert result.summary()["changes"] == {"unavailable": 1}
    assert event["detail-type"] == "AMI Unavailable"
    assert result.summary()["allowedImages"]["state"] is None
    assert result.summary()["allowedImages"]["error"].startswith("UnauthorizedOperation")
    assert run(aws, visibility, VENDORS, 2).summary()["changes"] == {}


def shared_image(aws: LocalAws) -> str:
    image_id = image(aws, "partner-base", "444455556666", None, public=False)
    aws.shared_client("ec2").modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Add": [{"UserId": ACCOUNT}]}
    )
    return image_id


def test_a_shared_image_unshared_is_unavailable(aws):
    visibility = Ec2Visibility(ACCOUNT, REGION)
    image_id = shared_image(aws)
    run(aws, visibility, SHARED, 0)
    aws.shared_client("ec2").modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Remove": [{"UserId": ACCOUNT}]}
    )

    result = run(aws, visibility, SHARED, 1)
    [event] = aws.bus_events()

    assert result.summary()["changes"] == {"unavailable": 1}
    assert event["detail"]["image"]["ImageId"] == image_id
    [email] = aws.people_messages()
    assert email["subject"].startswith("[amiwatch] AMI Unavailable: partner-base")
    assert run(aws, visibility, SHARED, 2).summary()["changes"] == {}


def test_a_shared_image_its_owner_disables_is_unavailable_to_the_consumer(aws):
    visibility = Ec2Visibility(ACCOUNT, REGION)
    image_id = shared_image(aws)
    run(aws, visibility, SHARED, 0)
    owner = Ec2Visibility(ACCOUNT, REGION).install(aws.client("ec2"))
    owner.disable_image(ImageId=image_id)  # EC2 removes every launch permission

    result = run(aws, visibility, SHARED, 1)

    assert result.summary()["changes"] == {"unavailable": 1}


def test_an_own_image_deregistered_is_deregistered(aws):
    visibility = Ec2Visibility(ACCOUNT, REGION)
    image_id: str = aws.shared_client("ec2").register_image(Name="golden-1")["ImageId"]
    run(aws, visibility, OWN, 0)
    aws.shared_client("ec2").deregister_image(ImageId=image_id)

    result = run(aws, visibility, OWN, 1)
    [event] = aws.bus_events()

    assert result.summary()["changes"] == {"deregistered": 1}
    assert event["detail"]["reason"] == "vanished"
    assert run(aws, visibility, OWN, 2).summary()["changes"] == {}


def test_a_public_image_of_your_own_disabled_is_one_disabled_event(aws):
    visibility = Ec2Visibility(ACCOUNT, REGION)
    ec2 = aws.shared_client("ec2")
    image_id: str = ec2.register_image(Name="golden-public")["ImageId"]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    run(aws, visibility, OWN, 0)
    scanner(aws, visibility).disable_image(ImageId=image_id)

    result = run(aws, visibility, OWN, 1)
    [event] = aws.bus_events()
    [chat] = aws.chat_messages()

    assert result.summary()["changes"] == {"disabled": 1}
    assert sorted(event["detail"]["changedFields"]) == ["Public", "State"]
    assert chat["content"]["title"].startswith("WARNING: AMI disabled")
