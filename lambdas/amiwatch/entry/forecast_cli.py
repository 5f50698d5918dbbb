"""`amiwatch forecast`: what will break, and when, in every target of the watches of a cdk.json.

Read-only: each target's snapshot records (the targets the table knows, as `amiwatch status`
lists them), its Allowed AMIs settings and the usage of the images due; nothing is written or
published. Exit codes: 0 nothing in use is due within --days; 1 something is (the rows are
printed); 2 a configuration or flag error; 3 AWS could not be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from amiwatch.aws.accounts import TargetClients
from amiwatch.aws.clients import client
from amiwatch.aws.dispatching import known_targets
from amiwatch.aws.forecasts import stored_records
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    amiwatch_object,
    read_only_parser,
    selected,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.entry.output import aligned
from amiwatch.judge.forecast import Horizon
from amiwatch.judge.usage import listed
from amiwatch.messages.forecast import WORDS
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.errors import ConfigError
from amiwatch.model.watch_config import parse_watches
from amiwatch.model.watches import AccountRef, Watch
from amiwatch.run.forecast import forecast_target

EXIT_DUE = 1  # something in use is due within --days
HEADER = ("WHEN", "HAPPENS", "IMAGE", "NAME", "ACCOUNT", "REGION", "USED BY", "MOVE TO")


def _parser() -> argparse.ArgumentParser:
    parser = read_only_parser("amiwatch forecast", __doc__)
    add = parser.add_argument
    add("--days", type=int, help="how far ahead (default: cdk.json's forecastDays, else 30)")
    add("--json", action="store_true", help="one JSON object per row")
    return parser


def main(argv: Sequence[str]) -> int:
    """`amiwatch forecast ...`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        raw = amiwatch_object(args.config)
        watches = selected(parse_watches(raw.get("watches")), args.watch)
        horizon = _horizon(raw, args.days)
    except ConfigError as exc:
        print(f"amiwatch: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        rows = _rows(args, watches, horizon, raw.get("externalId"))
    except SETUP_ERRORS as exc:
        print(f"amiwatch: {explain_for_cli(exc, table=args.table)}", file=sys.stderr)
        return EXIT_AWS
    for line in render(rows, as_json=args.json):
        print(line)
    return EXIT_DUE if rows else EXIT_OK


def _horizon(raw: dict[str, Any], days: int | None) -> Horizon:
    chosen = raw.get("forecastDays", defaults.FORECAST_DAYS) if days is None else days
    grace = raw.get("fixGraceDays", defaults.FIX_GRACE_DAYS)
    for name, value, low in (("--days", chosen, 1), ("fixGraceDays", grace, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 365:
            raise ConfigError(f"{name} must be a whole number of days {low}..365, got {value!r}")
    return Horizon(chosen, grace)


def _rows(
    args: argparse.Namespace, watches: tuple[Watch, ...], horizon: Horizon, external_id: Any
) -> list[dict[str, Any]]:
    ddb = client("dynamodb", region=args.region)
    home, partition = ddb.meta.region_name, ddb.meta.partition
    caller = client("sts", region=home).get_caller_identity()["Account"]
    accounts = TargetClients(external_id if isinstance(external_id, str) else None, partition)
    now, found = datetime.now(UTC), []
    for watch in watches:
        for known in known_targets(ddb, args.table, watch.name):
            target = Target(watch.name, known.account, known.region, partition)
            ec2 = accounts.ec2(_account(watch, known.account, caller), known.region,
                               session_name="amiwatch-forecast")  # fmt: skip
            store = DynamoSnapshotStore(ddb, args.table, target)
            result = forecast_target(watch, target, stored_records(store), Ec2Images(ec2), now,
                                     horizon, period="cli", bus_name="")  # fmt: skip
            found += [{"watch": watch.name, "account": known.account, "region": known.region,
                       **row} for row in result.rows]  # fmt: skip
    return sorted(found, key=lambda r: (r["at"], r["watch"], r["account"], r["region"]))


def _account(watch: Watch, account: str, caller: str) -> AccountRef:
    """How to read a target's account: the ambient credentials, or its member role."""
    if account == caller:
        return AccountRef()
    named = [a for a in watch.accounts if a.id == account]
    if named:
        return named[0]
    scopes = watch.organization_accounts
    return AccountRef(account, scopes[0].role_name if scopes else defaults.MEMBER_ROLE)


def render(rows: Sequence[dict[str, Any]], *, as_json: bool) -> list[str]:
    """Lines to print: a table, most urgent first, or JSON lines."""
    if as_json:
        return [json.dumps(row, ensure_ascii=False) for row in rows]
    if not rows:
        return ["nothing in use is due"]
    table = [HEADER] + [
        (("overdue " if r["overdue"] else "") + r["at"][:10], WORDS[r["happens"]],
         r["image"]["ImageId"], str(r["image"].get("Name") or ""), r["account"], r["region"],
         _used_by(r["usage"]), (r["replacement"] or {}).get("ImageId") or "-")
        for r in rows
    ]  # fmt: skip
    return aligned(table)


def _used_by(usage: dict[str, Any]) -> str:
    return f"unknown ({usage['error'][:40]})" if usage.get("error") else listed(usage["byType"])
