"""`amiwatch`: run the watcher pipeline locally with the ambient AWS credentials.
`amiwatch status`: every target's freshness (see `amiwatch status --help`).
`amiwatch forecast`: what will break, and when (see `amiwatch forecast --help`).
`amiwatch doctor`: does the deployed stack work? one line per check (`amiwatch doctor --help`).
`amiwatch test-alert`: one `test` event to the deployed bus and topics (`--help`).

Exit codes: 0 done; 1 some events were not delivered (they are re-sent next run, the reasons
are printed); 2 a configuration or flag error; 3 AWS could not be used as asked (credentials,
region, endpoint, a resource that does not exist, access denied); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from amiwatch import __version__
from amiwatch.aws.clients import client
from amiwatch.aws.parameters import SsmParameters
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.entry import alert_cli, doctor, forecast_cli, status
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNDELIVERED,
    fail,
    selected,
    watches_from_cdk_json,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli, invalid_endpoint
from amiwatch.entry.output import Printer
from amiwatch.messages.sns import CHAT, TOPIC, NoticePolicy
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.errors import ConfigError, suggest
from amiwatch.model.watches import Watch
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.run.result import PublishIncomplete
from amiwatch.wiring.settings import notice_policy

SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "status": status.main,
    "forecast": forecast_cli.main,
    "doctor": doctor.main,
    "test-alert": alert_cli.main,
}
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
USAGE = (
    "amiwatch [--config PATH] [--watch NAME] [--dry-run] [--table T --topic-arn ARN] ...\n"
    "       amiwatch {status,forecast,doctor,test-alert} [options]   (each has --help)\n"
    "       amiwatch --version"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amiwatch", usage=USAGE, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add("--version", action="version", version=f"amiwatch {__version__}")
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
    """Entry point; returns the process exit code. A subcommand's own main runs `amiwatch X`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    if argv and not argv[0].startswith("-"):
        hint = suggest(argv[0], SUBCOMMANDS) or f" (commands: {', '.join(SUBCOMMANDS)})"
        return fail(f'unknown command "{argv[0]}"{hint}', EXIT_CONFIG)
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
    printer = Printer(as_json=args.json, dry_run=args.dry_run)
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
        if result.status == "locked":
            print(f"amiwatch: {watch.name}: another run holds this target's lease (a scheduled "
                  "run or a refresh): this one scanned and recorded nothing; run it again after "
                  "that one ends", file=sys.stderr)  # fmt: skip
        printer.summary(result)
    if printer.closed:
        print("amiwatch: the output was closed (broken pipe); the run went on and recorded "
              "what it delivered", file=sys.stderr)  # fmt: skip
    return exit_code


def guarded(entry: Callable[[], int]) -> int:
    """`entry()`, with what a person meets at a terminal as one line and an exit code, not a
    traceback: Ctrl-C, a closed pipe, an endpoint without a scheme."""
    try:
        return entry()
    except KeyboardInterrupt:
        print("\namiwatch: interrupted: nothing unrecorded is lost, the next run finds those "
              "changes again", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (`| head`) is gone: say nothing more on stdout, and no error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ValueError as exc:
        line = invalid_endpoint(exc)
        if line is None:
            raise
        return fail(line, EXIT_AWS)


def run() -> None:
    """The `amiwatch` console script."""
    raise SystemExit(guarded(main))
