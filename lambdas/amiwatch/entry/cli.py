"""`amiwatch`: run the watcher pipeline locally with the ambient AWS credentials.
`amiwatch status`: every target's freshness (see `amiwatch status --help`).
`amiwatch forecast`: what will break, and when (see `amiwatch forecast --help`).

Exit codes: 0 done; 1 some events were not delivered (they are re-sent next run, the reasons
are printed); 2 a configuration or flag error; 3 AWS could not be used as asked (credentials,
region, endpoint, a resource that does not exist, access denied).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from amiwatch.aws.clients import client
from amiwatch.aws.parameters import SsmParameters
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry import forecast_cli, status
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNDELIVERED,
    fail,
    selected,
    watches_from_cdk_json,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.entry.output import Printer
from amiwatch.messages.sns import CHAT, TOPIC, NoticePolicy
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.errors import ConfigError
from amiwatch.model.watches import Watch
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.run.result import PublishIncomplete
from amiwatch.wiring.settings import notice_policy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amiwatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add(
        "--config",
        type=Path,
        default=Path("cdk.json"),
        help="cdk.json (or a JSON file) with the amiwatch watches",
    )
    add("--watch", action="append", help="run only this watch (repeatable)")
    add("--region", help="AWS region (default: the ambient one)")
    add("--table", help="DynamoDB table of the snapshot (the stack's TableName output)")
    add("--topic-arn", help="SNS topic to publish to (TopicArn)")
    add(
        "--bus-name",
        default=defaults.BUS_NAME,
        help=f"EventBridge bus (BusName; default {defaults.BUS_NAME})",
    )
    add("--chat-topic-arn", help="SNS topic of the chat channel (ChatTopicArn; optional)")
    add(
        "--chat-changes",
        help="comma-separated changes that reach chat "
        f"(default: {','.join(defaults.CHAT_CHANGES)})",
    )
    add(
        "--digest-threshold",
        help="more changes than this in one run send people one digest "
        f"(default {defaults.DIGEST_THRESHOLD})",
    )
    add(
        "--dry-run",
        action="store_true",
        help="print the changes that would be published (with no snapshot: the images a "
        "baseline would record); write and publish nothing",
    )
    add("--json", action="store_true", help="print event details as JSON lines")
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code. `amiwatch status ...`: amiwatch.entry.status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["status"]:
        return status.main(argv[1:])
    if argv[:1] == ["forecast"]:
        return forecast_cli.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        watches = selected(watches_from_cdk_json(args.config), args.watch)
        if not args.dry_run and not (args.table and args.topic_arn):
            raise ConfigError("--table and --topic-arn are required unless --dry-run")
        names = ("--chat-changes", "--digest-threshold")
        policy = notice_policy(
            bool(args.chat_topic_arn), args.chat_changes, args.digest_threshold, names
        )
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    try:
        return _run(args, watches, policy)
    except SETUP_ERRORS as exc:
        return fail(explain_for_cli(exc, table=args.table), EXIT_AWS)


def _run(args: argparse.Namespace, watches: tuple[Watch, ...], policy: NoticePolicy) -> int:
    ec2 = client("ec2", region=args.region)
    region, partition = ec2.meta.region_name, ec2.meta.partition
    account = client("sts", region=region).get_caller_identity()["Account"]
    ddb = client("dynamodb", region=region) if args.table else None
    publisher = None
    if not args.dry_run:
        events, sns = client("events", region=region), client("sns", region=region)
        topics = {TOPIC: args.topic_arn} | ({CHAT: args.chat_topic_arn} if policy.chat else {})
        publisher = BusTopicPublisher(events, sns, topics)
    printer = Printer(as_json=args.json)
    exit_code = EXIT_OK
    for watch in watches:
        target = Target(watch.name, account, region, partition)
        printer.start(target)
        store = DynamoSnapshotStore(ddb, args.table, target) if ddb is not None else None
        now = datetime.now(UTC)
        parameters = SsmParameters(client("ssm", region=region)) if watch.parameters else None
        ports = WatchPorts(
            Ec2Images(ec2), args.bus_name, store, publisher, policy, printer, parameters
        )
        try:
            result = run_watch(watch, target, ports, now, owner=f"cli-{now.timestamp()}")
        except PublishIncomplete as exc:
            print(f"amiwatch: {exc}", file=sys.stderr)
            result, exit_code = exc.result, EXIT_UNDELIVERED
        printer.summary(result)
    return exit_code


def run() -> None:
    """The `amiwatch` console script."""
    raise SystemExit(main())
