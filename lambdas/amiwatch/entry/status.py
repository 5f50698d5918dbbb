"""`amiwatch status`: every target's last success, images and last changes, stale ones first.

Read-only: one Query per watch on the table's TargetsByWatch index (the `meta` item each run
writes), the same records the dispatcher judges freshness from, by the same rule: stale after two
of the cdk.json schedule's longest gaps. Exit codes: 0 all fresh; 1 some targets are stale or
never succeeded, or none has run yet; 2 a configuration or flag error; 3 AWS could not be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from amiwatch.aws.clients import client
from amiwatch.aws.dispatching import known_targets, scans_in_progress
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    amiwatch_object,
    read_only_parser,
    selected,
    watches_from_cdk_json,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.entry.output import aligned
from amiwatch.judge.dispatch import KnownTarget
from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError
from amiwatch.model.records import parse_time
from amiwatch.model.schedule import parse_schedule, stale_after_minutes

EXIT_STALE = 1  # a target is stale or never succeeded, or none has run yet
HEADER = ("state", "watch", "account", "region", "last success", "images", "last changes",
          "scan in progress")  # fmt: skip
Progress = dict[tuple[str, str, str], dict[str, Any]]  # (watch, account, region) -> its scan


def _parser() -> argparse.ArgumentParser:
    parser = read_only_parser("amiwatch status", __doc__)
    add = parser.add_argument
    add(
        "--stale-after-hours",
        type=float,
        help="no success for this long is stale (default: two of the longest gaps of cdk.json's "
        "schedule, as the StaleTargets alarm judges: 2 for rate(1 hour))",
    )
    add("--json", action="store_true", help="one JSON object per target")
    return parser


def main(argv: Sequence[str]) -> int:
    """`amiwatch status ...`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        watches = selected(watches_from_cdk_json(args.config), args.watch)
        stale_after = _stale_after(args)
    except ConfigError as exc:
        print(f"amiwatch: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        ddb = client("dynamodb", region=args.region)
        rows, progress = [], {}
        for watch in watches:
            known = known_targets(ddb, args.table, watch.name)
            rows += [(watch.name, k) for k in known]
            scans = scans_in_progress(ddb, args.table, watch.name, known)
            progress.update({(watch.name, *where): scan for where, scan in scans.items()})
    except SETUP_ERRORS as exc:
        print(f"amiwatch: {explain_for_cli(exc, table=args.table)}", file=sys.stderr)
        return EXIT_AWS
    now = datetime.now(UTC)
    judged = sorted(
        ((state_of(k, now, stale_after), w, k) for w, k in rows),
        key=lambda row: (row[0] == "ok", row[1], row[2].account, row[2].region),
    )
    for line in render(judged, now, as_json=args.json, progress=progress):
        print(line)
    return EXIT_STALE if not judged or any(state != "ok" for state, _, _ in judged) else EXIT_OK


def _stale_after(args: argparse.Namespace) -> timedelta:
    if args.stale_after_hours is not None:
        if args.stale_after_hours <= 0:
            raise ConfigError("--stale-after-hours must be more than 0")
        return timedelta(hours=args.stale_after_hours)
    schedule = amiwatch_object(args.config).get("schedule", defaults.SCHEDULE)
    return timedelta(minutes=stale_after_minutes(parse_schedule(schedule)))


def state_of(target: KnownTarget, now: datetime, stale_after: timedelta) -> str:
    """ok, stale (no success for `stale_after`) or never (no success at all yet)."""
    succeeded = parse_time(target.last_success_at)
    if succeeded is None:
        return "never"
    return "stale" if succeeded < now - stale_after else "ok"


def render(
    judged: Sequence[tuple[str, str, KnownTarget]],
    now: datetime,
    *,
    as_json: bool,
    progress: Progress | None = None,
) -> list[str]:
    """Lines to print: a table (stale first), or JSON lines. `progress`: the scans that span
    invocations and are not done yet (a target counts as fresh only once one completes)."""
    scans = progress or {}
    if as_json:
        return [
            json.dumps({"state": s, "watch": w, "account": k.account, "region": k.region,
                        "lastSuccessAt": k.last_success_at, "images": k.images,
                        "lastChanges": dict(k.last_changes),
                        "scanInProgress": scans.get((w, k.account, k.region))})
            for s, w, k in judged
        ]  # fmt: skip
    if not judged:
        return [
            "no targets have run yet (the table has no meta item for these watches): after "
            "a deploy, the first scheduled run takes the baseline"
        ]
    table = [HEADER] + [
        (s, w, k.account, k.region, _age(k.last_success_at, now),
         "" if k.images is None else f"{k.images:,}",
         ", ".join(f"{kind} {n}" for kind, n in sorted(k.last_changes.items())) or "-",
         _scan(scans.get((w, k.account, k.region))))
        for s, w, k in judged
    ]  # fmt: skip
    return aligned(table)


def _scan(scan: dict[str, Any] | None) -> str:
    if scan is None:
        return "-"
    return (f"{scan['images']:,} images, {scan['pages']:,} pages in {scan['invocations']} "
            f"invocations since {scan['startedAt']}")  # fmt: skip


def _age(stamp: str | None, now: datetime) -> str:
    moment = parse_time(stamp)
    if moment is None:
        return "never"
    minutes = int((now - moment).total_seconds() // 60)
    ago = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
    return f"{stamp} ({ago} ago)"
