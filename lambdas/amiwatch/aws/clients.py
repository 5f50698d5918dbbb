"""boto3 clients with the retry behaviour amiwatch relies on."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from amiwatch.aws.parsing import FastImagesParserFactory

# Adaptive mode retries throttling (RequestLimitExceeded, ThrottlingException) with backoff and
# client-side rate limiting; amiwatch writes no retry loop of its own for whole-call errors.
RETRY = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)
# The services the Lambda talks to. The asset ships botocore's models of exactly these (see
# infra/runtime.py), so a client for any other service would fail there: add it here first.
RUNTIME_SERVICES = frozenset(
    {"ec2", "dynamodb", "sns", "events", "sts", "ssm", "sqs", "organizations"}
)
# What reading a target takes in IAM (infra.concerns.permissions grants it, `amiwatch doctor`
# simulates it): the target's images, what uses them (usage in events), its Allowed AMIs
# settings and Amazon Inspector's findings of an image. None supports resource-level rules; the
# EC2 API reference names no action GetImageFindings depends on.
READ_IMAGES = (
    "ec2:DescribeImages",
    "ec2:DescribeImageReferences",
    "ec2:GetAllowedImagesSettings",
    "ec2:GetImageFindings",
)
# DescribeImageReferences looks at the referencing resources with the caller's own permissions
# (EC2 User Guide, "Identify your resources referencing specified AMIs", the policy AWS
# publishes as AmazonEC2ImageReferencesAccessPolicy v3): granted only through EC2's images
# service (aws:CalledVia), so the role cannot list instances or read parameters by itself.
IMAGE_REFERENCE_CHECKS = (
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ssm:DescribeParameters",
    "ssm:GetParameters",
    "imagebuilder:ListImageRecipes",
    "imagebuilder:ListContainerRecipes",
    "imagebuilder:GetContainerRecipe",
)
IMAGES_SERVICE = "ec2-images.amazonaws.com"
# The snapshot table's (the one index takes dynamodb:Query too); the dispatcher's listing of
# organisation scopes (no resource-level rules).
SNAPSHOT_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
ORGANIZATION_READ = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
)
# The EC2 operations the code calls; a test proves each is in the model the asset ships.
EC2_OPERATIONS = frozenset(
    {"DescribeImages", "DescribeImageReferences", "GetAllowedImagesSettings", "GetImageFindings"}
)


# What only the `amiwatch` command calls (doctor, test-alert): never from the Lambda.
CLI_SERVICES = frozenset(
    {"cloudformation", "iam", "lambda", "cloudtrail", "scheduler", "cloudwatch"}
)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A client for `service` with amiwatch's retry config. The region: `region`, else
    AWS_REGION (what Lambda, most SDKs and CI systems set), else botocore's own lookup
    (AWS_DEFAULT_REGION, the profile)."""
    if service not in RUNTIME_SERVICES:
        raise ValueError(f"{service} is not in RUNTIME_SERVICES: the Lambda asset has no model")
    return _made(service, region_name=_region(region), endpoint_url=endpoint_url, config=RETRY)


def cli_client(service: str, *, region: str | None = None, read_timeout: int = 30) -> Any:
    """A client for a service only the `amiwatch` command uses (CLI_SERVICES)."""
    if service not in CLI_SERVICES:
        raise ValueError(f"{service} is not in CLI_SERVICES")
    config = RETRY.merge(Config(read_timeout=read_timeout))
    return boto3.client(service, region_name=_region(region), config=config)


def assumed_client(service: str, region: str, credentials: Any) -> Any:
    """A client for `service` with credentials an AssumeRole answered."""
    return _made(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=RETRY,
    )


def any_client(service: str, *, region: str | None = None) -> Any:
    """The `amiwatch` command's client for any service it uses (a Lambda runs up to 15 minutes:
    a synchronous Invoke waits that long)."""
    if service == "lambda":  # one attempt more, not eight: an Invoke may take 15 minutes
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=910)
        return boto3.client(service, region_name=_region(region), config=config)
    if service in CLI_SERVICES:
        return cli_client(service, region=region)
    return client(service, region=region)


def _made(service: str, **settings: Any) -> Any:
    """A client of boto3's default session; EC2's read DescribeImages with amiwatch's parser
    (aws.parsing: botocore's result, faster). botocore has no public hook for one client's
    parser, so the pinned version's endpoint attribute is set; a unit test proves it works."""
    made = boto3.client(service, **settings)
    endpoint = getattr(made, "_endpoint", None)
    if service == "ec2" and hasattr(endpoint, "_response_parser_factory"):
        endpoint._response_parser_factory = FastImagesParserFactory()  # type: ignore[union-attr]
    return made


def _region(region: str | None) -> str | None:
    """`region`, else AWS_REGION, else None: botocore's own lookup (AWS_DEFAULT_REGION, the
    profile)."""
    return region or os.environ.get("AWS_REGION") or None
