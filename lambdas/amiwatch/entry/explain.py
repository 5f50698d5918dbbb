"""One line that names the cause and the fix, for the errors a person running `amiwatch` meets
before anything could be delivered: credentials, region, endpoint, a missing table."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from amiwatch.aws.accounts import TargetUnavailable

# What can stop a CLI run before anything could be delivered (catch these, explain, exit 3).
SETUP_ERRORS = (BotoCoreError, ClientError, ResponseParserError, TargetUnavailable)
BAD_CREDENTIALS = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken",
    "ExpiredTokenException", "AuthFailure", "SignatureDoesNotMatch", "InvalidSignatureException",
})  # fmt: skip
SNAPSHOT_OPERATIONS = frozenset({
    "GetItem", "Query", "BatchGetItem", "BatchWriteItem", "PutItem", "UpdateItem",
})  # fmt: skip


def explain_for_cli(exc: Exception, *, table: str | None = None) -> str:
    """What went wrong and what to do, in one line."""
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region, or set AWS_REGION (or a region in your profile)"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso login`), or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        where = exc.kwargs.get("endpoint_url", "the AWS endpoint")
        return f"cannot reach {where}: check --region (a real region name?) and your network"
    if isinstance(exc, ClientError):
        return _client_error(exc, table)
    if isinstance(exc, ResponseParserError):
        first = str(exc).split("\n", 1)[0].split(", invalid", 1)[0]
        return (
            f"the endpoint answered with something that is not an AWS response ({first}): "
            "check AWS_ENDPOINT_URL and any proxy, or try again later"
        )
    if isinstance(exc, BotoCoreError):
        return f"the AWS SDK failed: {exc}"
    return str(exc)


def _client_error(exc: ClientError, table: str | None) -> str:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "?"), " ".join(str(error.get("Message", "")).split())
    operation = exc.operation_name
    if code == "ResourceNotFoundException" and operation in SNAPSHOT_OPERATIONS:
        return (
            f"the snapshot table {table!r} does not exist in this region (or these credentials "
            "cannot see it): pass the stack's TableName output with --table, and the stack's "
            "region with --region"
        )
    if code in BAD_CREDENTIALS:
        return (
            f"AWS did not accept these credentials ({code}: {message}): refresh them (for "
            "example `aws sso login`) or check AWS_PROFILE"
        )
    if "AccessDenied" in code or code == "UnauthorizedOperation":
        return f"not allowed to call {operation} ({code}: {message}): use credentials that may"
    return f"{operation} failed: {code}: {message}"


def invalid_endpoint(exc: ValueError) -> str | None:
    """The line for botocore's "Invalid endpoint: localhost:5000" (no scheme), else None."""
    text = str(exc)
    if not text.startswith("Invalid endpoint: "):
        return None
    endpoint = text.removeprefix("Invalid endpoint: ")
    return (
        f"the endpoint {endpoint!r} (AWS_ENDPOINT_URL or --endpoint-url) is not a URL: write "
        f"it with its scheme, e.g. http://{endpoint}"
    )
