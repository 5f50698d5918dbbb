"""cdk.json's checks on where the watches look: regions, member accounts, the external id."""

from __future__ import annotations

import re
from typing import Any

import boto3

from amiwatch.model.errors import ConfigError, suggest
from amiwatch.model.watches import Watch

EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
# EventBridge keeps a bus's resource policy under 10,240 characters: the intake bus names at most
# this many member accounts (15 characters each), with room for the organisation's statement.
INTAKE_ACCOUNTS_MAX = 600


def check_targets(watches: tuple[Watch, ...], external_id: Any) -> str | None:
    """Known regions, and an external id when any watch reads other accounts; the id."""
    known = _known_regions()
    for watch in watches:
        for region in watch.regions:
            if region not in known:
                hint = suggest(region, known)
                raise ConfigError(f'watch "{watch.name}": unknown region "{region}"{hint}')
    members = [w.name for w in watches
               if any(not a.is_self for a in w.accounts) or w.organization_accounts]  # fmt: skip
    if external_id is None:
        if members:
            raise ConfigError(
                f'amiwatch.externalId is required: watch "{members[0]}" reads other accounts'
            )
        return None
    if not isinstance(external_id, str) or not EXTERNAL_ID.fullmatch(external_id):
        raise ConfigError("amiwatch.externalId must be 2-1224 characters of [\\w+=,.@:/-]")
    return external_id


def _known_regions() -> set[str]:
    # Checked at synth only: the Lambda runtime's botocore may predate a region we know.
    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }


def check_intake(
    watches: tuple[Watch, ...], near_real_time: bool, organization_id: str | None
) -> None:
    """Hundreds of member accounts forward through the organisation, not one by one; accounts
    known only at run time (organisation scopes) can forward only through it."""
    members = {a.id for w in watches for a in w.accounts if not a.is_self}
    scoped = [w.name for w in watches if w.organization_accounts]
    if near_real_time and organization_id is None and scoped:
        raise ConfigError(
            f'watch "{scoped[0]}" reads accounts of an organisation scope, whose AMI events '
            "the intake bus could not admit (its policy lists accounts, and theirs are known "
            "only at run time): set amiwatch.intakeOrganizationId to your organization id "
            "(o-…), or amiwatch.nearRealTime false to watch them on the schedule only"
        )
    if near_real_time and organization_id is None and len(members) > INTAKE_ACCOUNTS_MAX:
        raise ConfigError(
            f"the watches name {len(members)} member accounts, more than the intake bus's "
            f"policy can list ({INTAKE_ACCOUNTS_MAX}; EventBridge keeps it under 10,240 "
            "characters): set amiwatch.intakeOrganizationId to let the organisation's accounts "
            "forward AMI events, or amiwatch.nearRealTime false"
        )
