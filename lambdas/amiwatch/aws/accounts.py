"""The accounts a watch reads and how: EC2 clients for a target (the watcher's own
credentials, or a member account's role), and the accounts of an organisation scope.

Member roles are assumed through the target region's own STS endpoint, so a target depends only
on its region: a region where STS is deactivated, or an opt-in region the account has not
enabled, fails that target alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from amiwatch.aws.clients import assumed_client, client
from amiwatch.model.watches import AccountRef, OrgAccounts

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


# The accounts of an organisation scope (`{"organizationalUnit"}` / `{"organization": true}`),
# read at dispatch time from AWS Organizations: from the management account or a delegated
# administrator (the watcher's own credentials), or through `organizationRoleArn`. Only ACTIVE
# accounts count (`State`; `Status` before Organizations retired it). Every list is paginated;
# throttling (a few calls per second) is retried by botocore's adaptive mode.
ACTIVE = "ACTIVE"


@dataclass
class OrgDirectory:
    """Lists the ACTIVE accounts of organisation scopes; counts its calls."""

    organizations: Any  # a boto3 Organizations client
    calls: int = 0

    def accounts(self, scope: OrgAccounts) -> tuple[list[str], list[str]]:
        """(the ACTIVE accounts of the scope less its exclusions, the inactive ones found):
        an OU is walked recursively through its child OUs."""
        found = self._organization() if scope.unit is None else self._unit(scope.unit)
        active: list[str] = []
        inactive: list[str] = []
        for account in found:
            state = account.get("State") or account.get("Status")
            if account["Id"] in scope.exclude:
                continue
            (active if state == ACTIVE else inactive).append(account["Id"])
        return sorted(set(active)), sorted(set(inactive))

    def _organization(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("list_accounts", "Accounts")

    def _unit(self, unit: str) -> Iterator[dict[str, Any]]:
        parents = [unit]
        while parents:
            parent = parents.pop()
            yield from self._pages("list_accounts_for_parent", "Accounts", ParentId=parent)
            children = self._pages(
                "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
            )
            parents.extend(child["Id"] for child in children)

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        for page in self.organizations.get_paginator(operation).paginate(**params):
            self.calls += 1
            yield from page.get(key, [])
