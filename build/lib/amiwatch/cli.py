"""`amiwatch`: run the watcher pipeline locally with the ambient AWS credentials."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amiwatch import defaults
from amiwatch.aws.clients import client
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.contract import Target
from amiwatch.errors import ConfigError
from amiwatch.lambda_env import notice_policy
from amiwatch.pipeline import WatchPorts, run_watch
from amiwatch.run_result import PublishIncomplete, WatchResult
from amiwatch.sns_messages import CHAT, TOPIC
from amiwatch.watch_config import parse_watches
from amiwatch.watches import Watch


def watches_from_cdk_json(path: Path) -> tuple[Watch, ...]:
    """The watches declared under context "amiwatch" in a cdk.json."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    amiwatch = document.get("context", {}).get("amiwatch", document.get("amiwatch"))
    if not isinstance(amiwatch, dict):
        raise ConfigError(f'{path}: no "amiwatch" object under "context"')
    return parse_watches(amiwatch.get("watches"))


def render_table(details: Sequence[dict[str, Any]]) -> str:
    """Event details as a fixed-width table: change, watch, image, name, state and detail."""
    header = ("CHANGE", "WATCH", "IMAGE", "NAME", "STATE", "DETAIL")
    rows = [header, *[_row(detail) for detail in details]]
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell[:w].ljust(w) for cell, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _row(detail: dict[str, Any]) -> tuple[str, ...]:
    image = detail["image"]
    reason = image.get("StateReason") or {}
    if detail["change"] == "failed" and reason:
        info = f"{reason.get('Code')}: {reason.get('Message')}"
    elif detail["change"].startswith("deprecat"):
        info = f"DeprecationTime {image.get('DeprecationTime')}"
    elif detail["changedFields"]:
        previous = detail["previous"] or {}
        info = ", ".join(
            f"{f} {json.dumps(previous.get(f))} -> {json.dumps(image.get(f))}"
            for f in detail["changedFields"]
        )
    else:
        info = detail["reason"]
    return (
        detail["change"],
        detail["watch"],
        image["ImageId"],
        image.get("Name") or "",
        image.get("State") or "",
        info,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amiwatch", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("cdk.json"),
        help="cdk.json (or a JSON file) with the amiwatch watches",
    )
    parser.add_argument("--watch", action="append", help="run only this watch (repeatable)")
    parser.add_argument("--region", help="AWS region (default: the ambient one)")
    parser.add_argument("--table", help="DynamoDB table of the snapshot")
    parser.add_argument("--topic-arn", help="SNS topic to publish to")
    parser.add_argument(
        "--bus-name",
        default=defaults.BUS_NAME,
        help=f"EventBridge bus (default {defaults.BUS_NAME})",
    )
    parser.add_argument("--chat-topic-arn", help="SNS topic of the chat channel (optional)")
    parser.add_argument(
        "--chat-changes",
        help="comma-separated changes that reach chat "
        f"(default: {','.join(defaults.CHAT_CHANGES)})",
    )
    parser.add_argument(
        "--digest-threshold",
        help="more changes than this in one run send people one digest "
        f"(default {defaults.DIGEST_THRESHOLD})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the changes that would be published; write nothing",
    )
    parser.add_argument("--json", action="store_true", help="print event details as JSON lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        watches = _selected(watches_from_cdk_json(args.config), args.watch)
        if not args.dry_run and not (args.table and args.topic_arn):
            raise ConfigError("--table and --topic-arn are required unless --dry-run")
        policy = notice_policy(bool(args.chat_topic_arn), args.chat_changes, args.digest_threshold)
    except ConfigError as exc:
        print(f"amiwatch: {exc}", file=sys.stderr)
        return 2
    ec2 = client("ec2", region=args.region)
    region, partition = ec2.meta.region_name, ec2.meta.partition
    account = client("sts", region=region).get_caller_identity()["Account"]
    ddb = client("dynamodb", region=region) if args.table else None
    publisher = None
    if not args.dry_run:
        events, sns = client("events", region=region), client("sns", region=region)
        topics = {TOPIC: args.topic_arn} | ({CHAT: args.chat_topic_arn} if policy.chat else {})
        publisher = BusTopicPublisher(events, sns, topics)
    exit_code = 0
    for watch in watches:
        target = Target(watch.name, account, region, partition)
        store = DynamoSnapshotStore(ddb, args.table, target) if ddb is not None else None
        now = datetime.now(UTC)
        try:
            ports = WatchPorts(Ec2Images(ec2), args.bus_name, store, publisher, policy)
            result = run_watch(watch, target, ports, now, owner=f"cli-{now.timestamp()}")
        except PublishIncomplete as exc:
            print(f"amiwatch: {exc}", file=sys.stderr)
            result, exit_code = exc.result, 1
        _print(result, as_json=args.json)
    return exit_code


def _selected(watches: tuple[Watch, ...], names: list[str] | None) -> tuple[Watch, ...]:
    """The watches named with --watch (all without it); an unknown name is an error."""
    if not names:
        return watches
    known = {w.name for w in watches}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--watch names unknown watches: {', '.join(unknown)}")
    return tuple(w for w in watches if w.name in set(names))


def _print(result: WatchResult, *, as_json: bool) -> None:
    if as_json:
        for event in result.events:
            print(json.dumps(event.detail))
        return
    print(json.dumps(result.summary()))
    if result.events:
        print(render_table([e.detail for e in result.events]))


def run() -> None:
    """The `amiwatch` console script."""
    raise SystemExit(main())
