"""The watch model shared by synth and the Lambda: a named scope of DescribeImages and the
accounts and regions it covers. Reading one from cdk.json form: watch_config."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from amiwatch.model import defaults

SELF = "self"


@dataclass(frozen=True)
class AccountRef:
    """An account a watch looks into: the watcher's own ("self"), or a member reached by role."""

    id: str = SELF
    role_name: str = defaults.MEMBER_ROLE

    @property
    def is_self(self) -> bool:
        return self.id == SELF

    def role_arn(self, partition: str = "aws") -> str:
        """The member role the watcher assumes (with the external id) to read this account."""
        return f"arn:{partition}:iam::{self.id}:role/{self.role_name}"

    def to_config(self) -> str | dict[str, str]:
        return SELF if self.is_self else {"id": self.id, "roleName": self.role_name}


@dataclass(frozen=True)
class OrgAccounts:
    """Accounts AWS Organizations lists at dispatch time: the ACTIVE accounts under an
    organizational unit (recursively), or of the whole organisation, less `exclude`."""

    unit: str | None = None  # "ou-…" (or the root "r-…"); None: the whole organisation
    exclude: frozenset[str] = frozenset()
    role_name: str = defaults.MEMBER_ROLE

    def to_config(self) -> dict[str, Any]:
        entry: dict[str, Any] = (
            {"organizationalUnit": self.unit} if self.unit else {"organization": True}
        )
        if self.exclude:
            entry["excludeAccounts"] = sorted(self.exclude)
        if self.role_name != defaults.MEMBER_ROLE:
            entry["roleName"] = self.role_name
        return entry


@dataclass(frozen=True)
class Watch:
    """One named scope of DescribeImages, and how its changes are judged."""

    name: str
    owners: tuple[str, ...] = ()
    executable_users: tuple[str, ...] = ()
    image_ids: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    include_deprecated: bool = True
    include_disabled: bool = True
    deprecation_warning_days: int = 0
    vulnerable_at: str = defaults.VULNERABLE_AT  # the lowest severity that makes it vulnerable
    ignore_fields: frozenset[str] = field(default_factory=lambda: frozenset(defaults.IGNORE_FIELDS))
    baseline: str = defaults.BASELINE
    regions: tuple[str, ...] = ()  # empty: the watcher's own region
    accounts: tuple[AccountRef, ...] = (AccountRef(),)  # the accounts named in cdk.json
    organization_accounts: tuple[OrgAccounts, ...] = ()  # found in AWS Organizations at dispatch
    # SSM public parameter names, or path prefixes ending in "/", that name the AMIs to follow.
    parameters: tuple[str, ...] = ()
    # SNS topics that announce new AMIs of a vendor: a message runs this watch's scan at once.
    refresh_on: tuple[str, ...] = ()

    def targets(self, home_region: str) -> list[tuple[AccountRef, str]]:
        """Every (account, region) of the accounts named in cdk.json: one independent run each
        (the dispatcher adds those of `organization_accounts`)."""
        return [(a, r) for a in self.accounts for r in self.regions_or(home_region)]

    def regions_or(self, home_region: str) -> tuple[str, ...]:
        return self.regions or (home_region,)

    @property
    def follows_parameters(self) -> bool:
        """A watch of SSM public parameters: its images are the ones they name right now."""
        return bool(self.parameters)

    def describe_images_kwargs(self) -> dict[str, Any]:
        """The DescribeImages parameters for this watch (without paging parameters)."""
        kwargs: dict[str, Any] = {
            "IncludeDeprecated": self.include_deprecated,
            "IncludeDisabled": self.include_disabled,
        }
        if self.owners:
            kwargs["Owners"] = list(self.owners)
        if self.executable_users:
            kwargs["ExecutableUsers"] = list(self.executable_users)
        if self.image_ids:
            kwargs["ImageIds"] = list(self.image_ids)
        if self.filters:
            kwargs["Filters"] = [{"Name": n, "Values": list(v)} for n, v in self.filters]
        return kwargs

    def selection_digest(self) -> str:
        """Which images the watch selects (owners, users, ids, filters, include flags), hashed.

        Order-insensitive, so reordering a list is not an edit. The snapshot remembers it; a run
        that finds it changed records images that entered or left only by the edit silently.
        """
        selection = {
            "owners": sorted(self.owners),
            "executableUsers": sorted(self.executable_users),
            "imageIds": sorted(self.image_ids),
            "filters": sorted([n, sorted(v)] for n, v in self.filters),
            "parameters": sorted(self.parameters),
            "includeDeprecated": self.include_deprecated,
            "includeDisabled": self.include_disabled,
        }
        canonical = json.dumps(selection, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The cdk.json form of this watch; `parse_watch(w.to_dict()) == w`."""
        scope = {
            "owners": list(self.owners),
            "executableUsers": list(self.executable_users),
            "imageIds": list(self.image_ids),
            "filters": {n: list(v) for n, v in self.filters},
            "parameters": list(self.parameters),
        }
        return {
            "name": self.name,
            **{key: value for key, value in scope.items() if value},
            "includeDeprecated": self.include_deprecated,
            "includeDisabled": self.include_disabled,
            "deprecationWarningDays": self.deprecation_warning_days,
            "vulnerableAt": self.vulnerable_at,
            "ignoreFields": sorted(self.ignore_fields),
            "baseline": self.baseline,
            **({"regions": list(self.regions)} if self.regions else {}),
            **({"refreshOn": list(self.refresh_on)} if self.refresh_on else {}),
            "accounts": [
                *(a.to_config() for a in self.accounts),
                *(o.to_config() for o in self.organization_accounts),
            ],
        }
