"""Who is hit: deprecations, deregistrations and disables say what still uses the AMI.

DescribeImageReferences is answered by devtools.doubles.image_references from moto's real
instances and launch templates (moto lacks the operation), with request and response checked
against the botocore model.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from amiwatch.run.pipeline import WatchPorts, run_watch
from devtools.doubles.image_references import answer_image_references
from devtools.local_aws import LocalAws, set_image

from .conftest import register
from .test_delivery import T0, TARGET, WATCH

PAST = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
HOUR = timedelta(hours=1)


def run(aws: LocalAws, hours: int, ec2: Any = None):
    ports = aws.watch_ports(TARGET)
    if ec2 is not None:
        from amiwatch.aws.scan import Ec2Images

        ports = WatchPorts(Ec2Images(ec2), ports.bus_name, ports.store, ports.publisher,
                           ports.notices)  # fmt: skip
    return run_watch(WATCH, TARGET, ports, T0 + hours * HOUR, owner=f"run-{hours}")


def launch_from(aws: LocalAws, image_id: str) -> str:
    ec2 = aws.shared_client("ec2")
    [instance] = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"]
    return str(instance["InstanceId"])


def template_versions(aws: LocalAws, image_id: str, versions: int) -> str:
    ec2 = aws.shared_client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"lt-{image_id}", LaunchTemplateData={"ImageId": image_id}
    )["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(versions - 1):
        ec2.create_launch_template_version(
            LaunchTemplateId=template, LaunchTemplateData={"ImageId": image_id}
        )
    return str(template)


@pytest.fixture
def golden(aws: LocalAws) -> dict[str, str]:
    ids = {name: register(aws, name) for name in ("golden-used", "golden-unused", "golden-new")}
    run(aws, 0)
    return ids


def test_a_deprecated_ami_in_use_says_by_what_and_one_unused_says_nothing_uses_it(aws, golden):
    instance = launch_from(aws, golden["golden-used"])
    template_versions(aws, golden["golden-used"], 2)
    for name in ("golden-used", "golden-unused"):
        set_image(golden[name], deprecation_time=PAST)

    run(aws, 1)
    usage = {e["detail"]["image"]["Name"]: e["detail"]["usage"] for e in aws.bus_events()}
    topic = {m["detail"]["image"]["Name"]: m for m in aws.topic_messages()}

    used = usage["golden-used"]
    assert used["total"] == 3
    assert used["byType"] == {"ec2:Instance": 1, "ec2:LaunchTemplate": 2}
    assert used["resources"][0].endswith(f":instance/{instance}")  # instances first
    assert used["truncated"] is False and used["error"] is None
    assert used["account"] == TARGET.account and used["region"] == TARGET.region
    assert topic["golden-used"]["attributes"]["in_use"] == "true"
    assert usage["golden-unused"]["total"] == 0
    assert topic["golden-unused"]["attributes"]["in_use"] == "false"


def test_people_read_the_usage_first(aws, golden):
    launch_from(aws, golden["golden-used"])
    template_versions(aws, golden["golden-used"], 2)
    set_image(golden["golden-used"], deprecation_time=PAST)

    run(aws, 1)
    [email] = aws.people_messages()
    [chat] = aws.chat_messages()
    text = email_text(email)

    sentence = f"Still used by 1 instance and 2 launch templates in {TARGET.account} / us-east-1."
    assert text.splitlines()[2] == sentence
    assert f"#Instances:imageId={golden['golden-used']}" in text.splitlines()[3]
    assert chat["content"]["description"].startswith(f"*Usage:* {sentence} <https://")


def email_text(message: dict[str, Any]) -> str:
    from amiwatch.messages.mail import change_email

    return change_email(message["detail"], "aws")


def test_kinds_without_usage_carry_null_and_no_in_use_attribute(aws, golden):
    register(aws, "golden-brand-new")

    run(aws, 1)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()

    assert event["detail"]["change"] == "new" and event["detail"]["usage"] is None
    assert "in_use" not in message["attributes"]


def test_access_denied_still_delivers_with_the_error(aws, golden):
    ec2 = aws.client("ec2")
    answer_image_references(ec2, refuse="UnauthorizedOperation")
    aws.shared_client("ec2").disable_image(ImageId=golden["golden-used"])

    result = run(aws, 1, ec2=ec2)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()

    assert result.status == "ok"
    assert event["detail"]["change"] == "disabled"
    assert event["detail"]["usage"]["error"].startswith("UnauthorizedOperation: You are not")
    assert event["detail"]["usage"]["total"] is None
    assert message["attributes"]["in_use"] == "unknown"


def test_more_than_25_references_are_truncated(aws, golden):
    for _ in range(27):
        launch_from(aws, golden["golden-used"])
    set_image(golden["golden-used"], deprecation_time=PAST)

    run(aws, 1)
    [event] = aws.bus_events()

    assert event["detail"]["usage"]["total"] == 27
    assert len(event["detail"]["usage"]["resources"]) == 25
    assert event["detail"]["usage"]["truncated"] is True


def test_an_unchanged_run_looks_nothing_up(aws, golden):
    launch_from(aws, golden["golden-used"])

    result = run(aws, 1)

    assert result.reference_calls == 0


def test_a_resource_type_that_cannot_be_checked_makes_in_use_unknown_never_false(aws, golden):
    # EC2 checks each resource type with the caller's permissions: without the Image Builder
    # ones a call that asks for recipes fails, and the other types are still answered.
    ec2 = aws.client("ec2")
    answer_image_references(
        ec2,
        refuse_types={
            "imagebuilder:ImageRecipe": "AccessDenied",
            "imagebuilder:ContainerRecipe": "AccessDenied",
        },
    )
    launch_from(aws, golden["golden-used"])
    for name in ("golden-used", "golden-unused"):
        set_image(golden[name], deprecation_time=PAST)

    run(aws, 1, ec2=ec2)
    usage = {e["detail"]["image"]["Name"]: e["detail"]["usage"] for e in aws.bus_events()}
    in_use = {m["detail"]["image"]["Name"]: m["attributes"]["in_use"]
              for m in aws.topic_messages()}  # fmt: skip

    assert in_use == {"golden-used": "unknown", "golden-unused": "unknown"}
    assert usage["golden-used"]["total"] == 1
    assert usage["golden-used"]["byType"] == {"ec2:Instance": 1}
    assert usage["golden-unused"]["total"] == 0
    for partial in usage.values():
        assert partial["error"].startswith("not checked: imagebuilder:ImageRecipe (AccessDenied")
        assert "imagebuilder:ContainerRecipe (AccessDenied" in partial["error"]
        assert "ec2:Instance" not in partial["error"]
    [email] = [m for m in aws.people_messages() if m["detail"]["image"]["Name"] == "golden-used"]
    assert "Partly known" in email_text(email) and "1 instance so far" in email_text(email)
