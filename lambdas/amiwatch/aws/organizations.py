"""The accounts of an organisation scope (`{"organizationalUnit"}` / `{"organization": true}`),
read at dispatch time from AWS Organizations.

Called from the management account or a delegated administrator (the watcher's own
credentials), or through `organizationRoleArn` when the watcher lives elsewhere. Only ACTIVE
accounts count (`State`; `Status` before Organizations retired it). Every list is paginated;
throttling (Organizations allows a few calls per second) is retried by botocore's adaptive mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amiwatch.model.watches import OrgAccounts

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
