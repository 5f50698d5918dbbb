"""Which errors mean "this target cannot be read", and which are the watcher's own failure."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from amiwatch.aws.accounts import TargetUnavailable, explain
from amiwatch.model.watches import AccountRef

MEMBER = AccountRef("111122223333")


def error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "..."}}, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize("operation", ["DescribeImages", "AssumeRole"])
def test_credential_and_region_errors_of_the_target_explain_the_target(operation):
    explained = explain(error("AuthFailure", operation), MEMBER, "eu-west-1")

    assert isinstance(explained, TargetUnavailable)
    assert 'account 111122223333 in region "eu-west-1"' in str(explained)


@pytest.mark.parametrize(
    "code, operation",
    [
        ("UnrecognizedClientException", "GetItem"),  # DynamoDB of the watcher's own account
        ("AuthorizationError", "PublishBatch"),
        ("AccessDeniedException", "PutEvents"),
        ("UnauthorizedOperation", "UpdateItem"),
    ],
)
def test_the_same_codes_from_the_watcher_own_resources_are_not_the_target(code, operation):
    assert explain(error(code, operation), MEMBER, "eu-west-1") is None


def test_an_unreachable_endpoint_is_the_target_only_for_ec2_and_sts():
    ec2 = EndpointConnectionError(endpoint_url="https://ec2.ap-east-1.amazonaws.com/")
    table = EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")

    assert isinstance(explain(ec2, MEMBER, "ap-east-1"), TargetUnavailable)
    assert explain(table, MEMBER, "us-east-1") is None
