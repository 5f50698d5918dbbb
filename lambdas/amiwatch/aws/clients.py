"""boto3 clients with the retry behaviour amiwatch relies on."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Adaptive mode retries throttling (RequestLimitExceeded, ThrottlingException) with backoff and
# client-side rate limiting; amiwatch writes no retry loop of its own for whole-call errors.
RETRY = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)
# The services the Lambda talks to. The asset ships botocore's models of exactly these (see
# infra/runtime.py), so a client for any other service would fail there: add it here first.
RUNTIME_SERVICES = frozenset(
    {"ec2", "dynamodb", "sns", "events", "sts", "ssm", "sqs", "organizations"}
)
# The EC2 operations the code calls; a test proves each is in the model the asset ships.
EC2_OPERATIONS = frozenset(
    {"DescribeImages", "DescribeImageReferences", "GetAllowedImagesSettings", "GetImageFindings"}
)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A client for `service` with amiwatch's retry config."""
    if service not in RUNTIME_SERVICES:
        raise ValueError(f"{service} is not in RUNTIME_SERVICES: the Lambda asset has no model")
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=RETRY)


def assumed_client(service: str, region: str, credentials: Any) -> Any:
    """A client for `service` with credentials an AssumeRole answered."""
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=RETRY,
    )
