"""A watch's `accounts` in cdk.json form: accounts by id, and accounts of the organisation.

"self"                                                   the watcher's own account
{"id": "111122223333", "roleName"?}                      a member, through its role
{"organizationalUnit": "ou-…", "excludeAccounts"?: [...], "roleName"?}
{"organization": true, "excludeAccounts"?: [...], "roleName"?}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError
from amiwatch.model.watches import SELF, AccountRef, OrgAccounts

ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
# Organizations' ids: an OU (ou-<root>-<ou>) or the root (r-<root>).
UNIT_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}", re.ASCII)
SHAPES = '"self", {"id", "roleName"}, {"organizationalUnit"} or {"organization": true}'
ORG_KEYS = frozenset({"organizationalUnit", "organization", "excludeAccounts", "roleName"})

Fail = Callable[[str], ConfigError]


def parse_accounts(
    value: Any, fail: Fail
) -> tuple[tuple[AccountRef, ...], tuple[OrgAccounts, ...]]:
    """The accounts named by id, and the organisation scopes; `fail` makes the ConfigError."""
    if not isinstance(value, list) or not value:
        raise fail(f'"accounts" must be a non-empty list of {SHAPES}')
    named: list[AccountRef] = []
    scopes: list[OrgAccounts] = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and ({"organizationalUnit", "organization"} & set(item)):
            scopes.append(_scope(item, f'"accounts"[{i}]', fail))
        else:
            named.append(_account(item, f'"accounts"[{i}]', fail))
    ids = [ref.id for ref in named]
    if len(set(ids)) != len(ids):
        raise fail('"accounts" lists an account twice')
    units = [scope.unit for scope in scopes]
    if len(set(units)) != len(units):
        raise fail('"accounts" lists an organizational unit (or the organisation) twice')
    return tuple(named), tuple(scopes)


def _account(item: Any, where: str, fail: Fail) -> AccountRef:
    if item == SELF:
        return AccountRef()
    if not isinstance(item, dict) or set(item) - {"id", "roleName"}:
        raise fail(f"{where} must be one of {SHAPES}")
    account_id = item.get("id")
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        raise fail(
            f'{where}.id must be a string: "{account_id:012d}" in quotes (a JSON number loses '
            "an account id's leading zeros)"
        )
    if not isinstance(account_id, str) or not ACCOUNT_ID.fullmatch(account_id):
        raise fail(f"{where}.id must be a 12-digit account id, got {json.dumps(account_id)}")
    return AccountRef(account_id, _role(item, where, fail))


def _scope(item: dict[str, Any], where: str, fail: Fail) -> OrgAccounts:
    unknown = sorted(set(item) - ORG_KEYS)
    if unknown:
        raise fail(f"{where}: unknown key {json.dumps(unknown[0])} (allowed: {sorted(ORG_KEYS)})")
    if "organizationalUnit" in item and "organization" in item:
        raise fail(f'{where}: "organizationalUnit" or "organization", not both')
    unit = item.get("organizationalUnit")
    if "organization" in item:
        if item["organization"] is not True:
            raise fail(f'{where}.organization must be true (or name an "organizationalUnit")')
    elif not isinstance(unit, str) or not UNIT_ID.fullmatch(unit):
        raise fail(
            f"{where}.organizationalUnit must be an OU id (ou-…) or the root id (r-…), "
            f"got {json.dumps(unit)}"
        )
    excluded = item.get("excludeAccounts", [])
    if not isinstance(excluded, list) or not all(
        isinstance(a, str) and ACCOUNT_ID.fullmatch(a) for a in excluded
    ):
        raise fail(f"{where}.excludeAccounts must be a list of 12-digit account ids")
    return OrgAccounts(unit, frozenset(excluded), _role(item, where, fail))


def _role(item: dict[str, Any], where: str, fail: Fail) -> str:
    role = item.get("roleName", defaults.MEMBER_ROLE)
    if not isinstance(role, str) or not ROLE_NAME.fullmatch(role):
        raise fail(f"{where}.roleName {json.dumps(role)} is not an IAM role name")
    return role
