"""`make demo`: the whole watcher against an embedded moto server, no AWS account needed.

Seeds golden AMIs, takes a silent baseline, changes the AMIs the ways real ones change, runs
again and prints what the subscribers received: the EventBridge events, the SNS topic's messages,
one chat notification and one email in full (the others as one line each). A third run shows that
an unchanged fleet publishes nothing; then what no rival has (devtools.demo_capabilities).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta

from amiwatch.entry.output import Printer
from amiwatch.messages.chat import wants_chat
from amiwatch.messages.mail import change_email
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.demo_capabilities import (
    disallowed,
    forecast,
    indent,
    recommended,
    register,
    vulnerable,
)
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

WATCH = parse_watch(
    {
        "name": "golden",
        "owners": ["self"],
        "filters": {"tag:team": ["platform"]},
        "deprecationWarningDays": 14,
    }
)
NAMES = ("golden-2026-06", "golden-2026-07", "golden-2026-08", "golden-2026-09", "golden-2026-10",
         "golden-base", "golden-2026-12-rc")  # fmt: skip
CHANGES = (
    "1 new, 1 failed (Server.InternalError), 2 deprecated (2026-08 still runs an instance and "
    "two launch template versions, 2026-06 nothing), 1 deregistered, 1 disabled, 1 made public, "
    "1 retagged out of the watch (team=data)"
)
IN_USE, UNUSED = "golden-2026-08", "golden-2026-06"


def _seed(aws: LocalAws) -> dict[str, str]:
    ids = {name: register(aws, name) for name in NAMES}
    set_image(ids["golden-2026-12-rc"], state="pending")
    return ids


def _mutate(aws: LocalAws, ids: dict[str, str], now: datetime) -> None:
    ec2 = aws.shared_client("ec2")
    register(aws, "golden-2026-12")
    set_image(
        ids["golden-2026-12-rc"],
        state="failed",
        state_reason={"Code": "Server.InternalError", "Message": "Internal error while copying"},
    )
    past = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for name in (IN_USE, UNUSED):
        set_image(ids[name], deprecation_time=past)
    ec2.run_instances(ImageId=ids[IN_USE], MinCount=1, MaxCount=1)
    template = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": ids[IN_USE]}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template,
                                       LaunchTemplateData={"ImageId": ids[IN_USE]})  # fmt: skip
    ec2.deregister_image(ImageId=ids["golden-2026-09"])
    ec2.disable_image(ImageId=ids["golden-2026-10"])
    ec2.modify_image_attribute(
        ImageId=ids["golden-base"], LaunchPermission={"Add": [{"Group": "all"}]}
    )
    ec2.create_tags(Resources=[ids["golden-2026-07"]], Tags=[{"Key": "team", "Value": "data"}])


def _run(aws: LocalAws, label: str, note: str = "") -> None:
    target = Target(WATCH.name, ACCOUNT, REGION)
    now = datetime.now(UTC)
    result = run_watch(WATCH, target, aws.watch_ports(target), now, owner=f"demo-{label}")
    summary = result.summary()
    shown = {k: summary[k] for k in ("watch", "baseline", "images", "changes", "undelivered")}
    print(f"{label} run: {json.dumps(shown)} {note}".rstrip())


def _print_received(aws: LocalAws) -> None:
    bus, topic = aws.bus_events(), aws.topic_messages()
    print(f"\nThe EventBridge rule's queue received {len(bus)} events:")
    printer = Printer(as_json=False)
    for event in bus:
        printer.detail(event["detail"])
    same = {e["detail"]["eventId"] for e in bus} == {m["detail"]["eventId"] for m in topic}
    print(f"\nThe SNS topic's subscriber received {len(topic)} messages, the same eventIds: {same}")
    chat = {note["metadata"]["additionalContext"]["eventId"]: note for note in aws.chat_messages()}
    kinds = sorted({m["detail"]["change"] for m in topic
                    if not wants_chat(m["detail"], defaults.CHAT_CHANGES)})  # fmt: skip
    print(f"Chat (Slack/Teams) received {len(chat)} notifications. Not {', '.join(kinds)}: "
          "chatChanges selects what reaches chat; by default an `updated` only when the image "
          "was made public (updated:Public).")  # fmt: skip
    people = {m["detail"]["image"]["Name"]: m for m in aws.people_messages()}
    used, unused = people[IN_USE]["detail"], people[UNUSED]["detail"]
    print(f"\nThe deprecation of {IN_USE}, which something still uses, in chat:")
    note = chat.pop(used["eventId"])
    print(f"  # {note['content']['title']}")
    description = note["content"]["description"].splitlines()
    print(indent("\n".join(description[:3]), "  | "))
    print(f"  | ... ({len(description) - 3} more lines: the facts, the console link)")
    for step in note["content"].get("nextSteps", []):
        print(f"  > next: {step}")
    print(f"\n... and by email ({len(people)} messages in all):")
    print(f"  Subject: {people[IN_USE]['subject']}")
    email = change_email(used, "aws").splitlines()
    print(indent("\n".join(email[: email.index("Open in the EC2 console:")]), "  | "))
    print("  | ... (the console link, when it was detected, its eventId)")
    print(f"\nThe deprecation of {UNUSED}, which nothing uses, reads first:")
    print(indent(change_email(unused, "aws").splitlines()[2], "  | "))
    print("\nThe other chat notifications:")
    for other in chat.values():
        print(f"  # {other['content']['title']}")


NEXT_STEPS = """Next: scan your account, read-only: .venv/bin/amiwatch --config cdk.json --dry-run
Deploy: docs/quickstart.md (cdk deploy, then amiwatch doctor and amiwatch test-alert)."""


def main() -> None:
    """Run the demo end to end and print what subscribers received."""
    # Before moto's import: else it serves ~1,300 built-in Amazon AMIs per region, and a demo run
    # as `python -m devtools.demo` (not `make demo`) watched those too, and crashed.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        aws = LocalAws.provision(endpoint_url=f"http://{host}:{port}")
        print(f"moto server on http://{host}:{port}: table, topics, bus and subscriber queues")
        ids = _seed(aws)
        _run(aws, "baseline")
        print(f"\nChanging AMIs: {CHANGES}\n")
        _mutate(aws, ids, datetime.now(UTC))
        _run(aws, "second")
        _print_received(aws)
        print()
        _run(aws, "third", "(an unchanged run publishes nothing)")
        vulnerable(aws, WATCH, ids["golden-base"])
        forecast(aws, WATCH)
        recommended(aws)
        disallowed(aws)
    finally:
        server.stop()
    print(f"\n{NEXT_STEPS}")


if __name__ == "__main__":
    main()
