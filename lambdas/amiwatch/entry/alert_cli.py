"""`amiwatch test-alert`: one event of kind `test` (detail type `AMI Watch Test`, the event
contract with `image: null`) to the deployed bus, the topic and the chat topic, so a team sees
the email, the chat message and its automation rules fire before any AMI changes.

The bus, topic and chat topic come from the stack's outputs (`--stack`), or from the flags.
Exit codes: 0 sent everywhere; 2 a configuration or flag error; 3 AWS could not be used (the
line says which channel, and why).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from amiwatch.aws.clients import any_client, client
from amiwatch.aws.forecasts import publish, put_one_event
from amiwatch.aws.health import stack_outputs
from amiwatch.entry.cdk_config import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    deployed_parser,
    fail,
    selected,
    watches_from_cdk_json,
)
from amiwatch.entry.explain import SETUP_ERRORS, explain_for_cli
from amiwatch.messages.alert import (
    alert_bus_entry,
    alert_chat_entry,
    alert_detail,
    alert_topic_entry,
)
from amiwatch.model.contract import TEST_DETAIL_TYPE, Target
from amiwatch.model.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = deployed_parser("amiwatch test-alert", __doc__)
    add = parser.add_argument
    add("--watch", help="the watch the alert names (default: the first of cdk.json)")
    add("--bus-name", help="instead of the stack's BusName output")
    add("--topic-arn", help="instead of the stack's TopicArn output")
    add("--chat-topic-arn", help="instead of the stack's ChatTopicArn output")
    add("--no-chat", action="store_true", help="leave chat out")
    return parser


def main(argv: Sequence[str]) -> int:
    """`amiwatch test-alert ...`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        names = [args.watch] if args.watch else None
        [watch, *_] = selected(watches_from_cdk_json(args.config), names)
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    try:
        sts = client("sts", region=args.region)
        region = sts.meta.region_name
        caller = sts.get_caller_identity()
        channels = _channels(args, region)
        now = datetime.now(UTC)
        detail = alert_detail(Target(watch.name, caller["Account"], region), now)
        sent_by = caller["Arn"]
        put_one_event(client("events", region=region),
                      alert_bus_entry(detail, channels["BusName"], now))  # fmt: skip
        print(f"sent {TEST_DETAIL_TYPE} to bus {channels['BusName']} (eventId {detail['eventId']})")
        sns = client("sns", region=region)
        publish(sns, channels["TopicArn"], alert_topic_entry(detail, sent_by))
        print(f"sent the email and JSON message to {channels['TopicArn']}")
        if channels.get("ChatTopicArn"):
            publish(sns, channels["ChatTopicArn"], alert_chat_entry(detail, sent_by))
            print(f"sent the chat notification to {channels['ChatTopicArn']}")
    except (*SETUP_ERRORS, RuntimeError) as exc:
        said = explain_for_cli(exc) if isinstance(exc, SETUP_ERRORS) else str(exc)
        return fail(said, EXIT_AWS)
    print(
        'subscribers see change "test"; rules on detail types never match it '
        "(docs/events.md#test-alerts-ami-watch-test)"
    )
    return EXIT_OK


def _channels(args: argparse.Namespace, region: str) -> dict[str, str]:
    given = {"BusName": args.bus_name, "TopicArn": args.topic_arn,
             "ChatTopicArn": args.chat_topic_arn}  # fmt: skip
    if not (args.bus_name and args.topic_arn):
        try:
            outputs = stack_outputs(any_client("cloudformation", region=region), args.stack)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationError":
                raise
            raise RuntimeError(
                f"no stack {args.stack} in {region}: pass --stack and --region of the deployed "
                "stack, or --bus-name and --topic-arn"
            ) from exc
        given = {k: v or outputs.get(k) for k, v in given.items()}
    missing = [k for k in ("BusName", "TopicArn") if not given[k]]
    if missing:  # another stack (a member stack), or one older than these outputs
        raise RuntimeError(
            f"stack {args.stack} has no output {' or '.join(missing)}: pass the watcher "
            "stack with --stack (AmiWatch by default), or --bus-name and --topic-arn"
        )
    if args.no_chat:
        given.pop("ChatTopicArn")
    return {k: v for k, v in given.items() if v}
