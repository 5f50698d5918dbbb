"""EC2 clients for a target: the watcher's own credentials, or a member account's role.

Member roles are assumed through the target region's own STS endpoint, so a target depends only
on its region: a region where STS is deactivated, or an opt-in region the account has not
enabled, fails that target alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from amiwatch.aws.clients import assumed_client, client
from amiwatch.model.watches import AccountRef

# Refresh assumed credentials this long before they expire (a run may take up to 15 minutes).
REFRESH_MARGIN = timedelta(minutes=20)
SESSION_SECONDS = 3600
# Errors that mean "this account cannot be read in this region", not "amiwatch is broken".
UNAVAILABLE_CODES = {
    "OptInRequired": "the region is not enabled for the account",
    "AuthFailure": "the credentials are not valid in this region (is the region enabled?)",
    "UnrecognizedClientException": "the credentials are not valid in this region",
    "InvalidClientTokenId": "the credentials are not valid in this region",
    "RegionDisabledException": "STS is not activated in this region for the account",
    "UnauthorizedOperation": "not authorized to call DescribeImages",
}


# Only calls made to the target (its EC2 API, its region's STS) can mean "target unavailable"; the
# same codes from DynamoDB, SNS or EventBridge in the watcher's own account are the watcher's own
# failure and must be reported as such.
TARGET_SERVICES = frozenset({"ec2", "sts"})
TARGET_OPERATIONS = frozenset({"DescribeImages", "AssumeRole"})


class TargetUnavailable(RuntimeError):
    """One target cannot be read (role, region, permissions); the others are unaffected."""


def explain(exc: Exception, account: AccountRef, region: str) -> TargetUnavailable | None:
    """A TargetUnavailable naming account, region and cause, if `exc` is that kind of error
    from a call to the target (EC2 or STS); None for anything else."""
    who = "the watcher's own account" if account.is_self else f"account {account.id}"
    if isinstance(exc, EndpointConnectionError):
        host = urlparse(str(exc.kwargs.get("endpoint_url", ""))).hostname or ""
        if host.split(".")[0] not in TARGET_SERVICES:
            return None
        return TargetUnavailable(f'region "{region}": no endpoint reachable ({exc})')
    if isinstance(exc, ClientError) and exc.operation_name in TARGET_OPERATIONS:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in UNAVAILABLE_CODES:
            message = exc.response.get("Error", {}).get("Message", "")
            return TargetUnavailable(
                f'{who} in region "{region}": {UNAVAILABLE_CODES[code]} ({code}: {message})'
            )
    return None


class TargetClients:
    """EC2 clients per (account, region), with member credentials cached until near expiry."""

    def __init__(
        self,
        external_id: str | None,
        partition: str,
        sts_for: Callable[[str], Any] = lambda region: client("sts", region=region),
    ) -> None:
        self.external_id = external_id
        self.partition = partition
        self.sts_for = sts_for
        self._credentials: dict[tuple[str, str], dict[str, Any]] = {}
        self._own: dict[str, Any] = {}
        self._lock = threading.Lock()

    def ec2(self, account: AccountRef, region: str, session_name: str) -> Any:
        """An EC2 client for the target; raises TargetUnavailable if its role cannot be assumed."""
        if account.is_self:
            if region not in self._own:  # a warm Lambda reuses its clients
                self._own[region] = client("ec2", region=region)
            return self._own[region]
        return assumed_client("ec2", region, self._assume(account, region, session_name))

    def _assume(self, account: AccountRef, region: str, session_name: str) -> dict[str, Any]:
        key = (account.role_arn(self.partition), region)
        with self._lock:
            cached = self._credentials.get(key)
            if cached and cached["Expiration"] - REFRESH_MARGIN > datetime.now(UTC):
                return cached
        if not self.external_id:
            raise TargetUnavailable(
                f"account {account.id}: no external id configured (cdk.json amiwatch.externalId)"
            )
        try:
            answer = self.sts_for(region).assume_role(
                RoleArn=key[0],
                RoleSessionName=session_name[:64],
                ExternalId=self.external_id,
                DurationSeconds=SESSION_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            raise TargetUnavailable(
                f'account {account.id} in region "{region}": cannot assume {key[0]} '
                f"with the external id: {exc}"
            ) from exc
        credentials: dict[str, Any] = answer["Credentials"]
        with self._lock:
            self._credentials[key] = credentials
        return credentials
