"""boto3 clients with the retry behaviour amiwatch relies on."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Adaptive mode retries throttling (RequestLimitExceeded, ThrottlingException) with backoff and
# client-side rate limiting; amiwatch writes no retry loop of its own for whole-call errors.
RETRY = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A client for `service` with amiwatch's retry config."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=RETRY)
