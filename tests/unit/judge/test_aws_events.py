"""AWS's own AMI events and vendors' release notices, as the refresh queue receives them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amiwatch.judge.aws_events import IMAGE_CALLS, Ignored, Refresh, Rescan, read_message

ACCOUNT, REGION = "123456789012", "eu-west-1"
AMI = "ami-0123456789abcdef0"
OTHER = "ami-0fedcba9876543210"


def state_change(image_id: Any = AMI, state: str = "available", **event: Any) -> str:
    """An "EC2 AMI State Change" event as EventBridge delivers it to SQS."""
    return json.dumps({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 AMI State Change", "source": "aws.ec2",
        "account": ACCOUNT, "time": "2026-11-30T12:00:00Z", "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}::image/{image_id}"],
        "detail": {"RequestId": "a1b2", "ImageId": image_id, "State": state, "ErrorMessage": ""},
        **event,
    })  # fmt: skip


def api_call(name: str, parameters: dict[str, Any], **detail: Any) -> str:
    """An "AWS API Call via CloudTrail" event for an EC2 call."""
    return json.dumps({
        "version": "0", "id": "c0ffee00-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
        "account": ACCOUNT, "time": "2026-11-30T12:00:00Z", "region": REGION, "resources": [],
        "detail": {"eventSource": "ec2.amazonaws.com", "eventName": name,
                   "awsRegion": REGION, "requestParameters": parameters, **detail},
    })  # fmt: skip


@pytest.mark.parametrize("state", ["available", "failed", "deregistered", "disabled"])
def test_a_state_change_asks_to_refresh_its_image_in_its_account_and_region(state):
    assert read_message(state_change(state=state)) == Refresh(ACCOUNT, REGION, (AMI,))


@pytest.mark.parametrize("call", IMAGE_CALLS)
def test_each_call_that_changes_an_image_asks_to_refresh_it(call):
    assert read_message(api_call(call, {"imageId": AMI})) == Refresh(ACCOUNT, REGION, (AMI,))


def test_a_tag_call_refreshes_its_images_and_not_its_other_resources():
    items = [{"resourceId": AMI}, {"resourceId": "i-0123456789abcdef0"}, {"resourceId": OTHER},
             {"resourceId": AMI}]  # fmt: skip
    message = api_call("CreateTags", {"resourcesSet": {"items": items}, "tagSet": {}})

    assert read_message(message) == Refresh(ACCOUNT, REGION, (AMI, OTHER))


@pytest.mark.parametrize(
    "call",
    [
        "EnableImageDeregistrationProtection",
        "CancelImageLaunchPermission",
        "RestoreImageFromRecycleBin",
    ],
)
def test_newer_calls_with_nested_parameters_refresh_every_image_they_name(call):
    # EC2 records some newer calls with their parameters under a request object (as for
    # ModifyInstanceMetadataOptions): the ids are read wherever they are.
    nested = {f"{call}Request": {"ImageId": AMI, "DryRun": False}}

    assert read_message(api_call(call, nested)) == Refresh(ACCOUNT, REGION, (AMI,))


@pytest.mark.parametrize("call", ["CreateImage", "CopyImage", "RegisterImage"])
def test_a_call_that_creates_an_image_refreshes_the_new_image(call):
    created = api_call(call, {"name": "golden-2026-12", "sourceImageId": OTHER},
                       responseElements={"imageId": AMI})  # fmt: skip

    assert read_message(created) == Refresh(ACCOUNT, REGION, (OTHER, AMI))


def test_ids_are_read_tolerantly_but_within_bounds():
    deep: dict = {"imageId": OTHER}
    for _ in range(20):
        deep = {"nested": deep}
    many = [{"resourceId": f"ami-{n:017x}"} for n in range(1500)]

    assert read_message(api_call("ModifyImageAttribute", deep)) == Ignored("no-image-id")
    refresh = read_message(api_call("CreateTags", {"resourcesSet": {"items": many}}))
    assert isinstance(refresh, Refresh) and len(refresh.image_ids) == 1000
    listed = api_call("CreateTags", {"resourcesSet": [{"resourceId": AMI}]})  # a list, not items
    assert read_message(listed) == Refresh(ACCOUNT, REGION, (AMI,))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (api_call("DeleteTags", {"resourcesSet": {"items": [{"resourceId": "i-0abc12345"}]}}),
         "no-image-id"),
        (api_call("DeregisterImage", {"imageId": AMI}, errorCode="Client.UnauthorizedOperation"),
         "no-image-id"),
        (api_call("RunInstances", {"imageId": AMI}), "no-image-id"),
        (state_change(image_id="snap-0123456789abcdef0"), "no-image-id"),
        (state_change(image_id=None), "no-image-id"),
        (state_change(source="aws.s3"), "unexpected-source"),
        (state_change(**{"detail-type": "EC2 Instance State-change Notification"}),
         "unexpected-source"),
        (state_change(account="me"), "malformed"),
        (state_change(detail="available"), "malformed"),
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ("", "malformed"),
        (None, "malformed"),
        ("[" * 100_000 + "]" * 100_000, "malformed"),
        (json.dumps({"source": "aws.ec2", "region": REGION, "account": ACCOUNT,
                     "detail-type": "AWS API Call via CloudTrail",
                     "detail": {"eventName": "CreateTags", "requestParameters": 42}}),
         "no-image-id"),
    ],
)  # fmt: skip
def test_a_message_that_asks_for_nothing_is_ignored_with_its_reason(message, reason):
    assert read_message(message) == Ignored(reason)


def test_a_vendor_release_notice_asks_for_a_scan_of_the_watches_on_its_topic():
    topic = "arn:aws:sns:us-east-1:137112412989:amazon-linux-2023-ami-updates"
    notice = {"Type": "Notification", "MessageId": "m-1", "TopicArn": topic,
              "Message": '{"v1": {"Message": "A new version of the AL2023 AMI"}}'}  # fmt: skip

    assert read_message(json.dumps(notice)) == Rescan(topic)
