"""`make demo`: the whole watcher against an embedded moto server, no AWS account needed.

Seeds golden AMIs, takes a silent baseline, changes the AMIs the ways real ones change, runs
again and prints what the SNS and EventBridge subscribers received, the chat notifications the
chat channel received, and the email each change produces.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from moto.server import ThreadedMotoServer

from amiwatch.cli import render_table
from amiwatch.contract import Target
from amiwatch.mail import change_email
from amiwatch.pipeline import run_watch
from amiwatch.run_result import WatchResult
from amiwatch.watch_config import parse_watches
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image

DEMO_WATCHES = parse_watches(
    [
        {
            "name": "golden",
            "owners": ["self"],
            "filters": {"tag:team": ["platform"]},
            "deprecationWarningDays": 14,
        }
    ]
)


def _seed(aws: LocalAws) -> dict[str, str]:
    ec2 = aws.client("ec2")
    names = [
        "golden-2026-08",
        "golden-2026-09",
        "golden-2026-10",
        "golden-2026-11",
        "golden-base",
        "golden-2026-12-rc",
    ]
    ids = {}
    for name in names:
        image_id = ec2.register_image(Name=name, Description=f"{name} platform image")["ImageId"]
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": "platform"}])
        ids[name] = image_id
    set_image(ids["golden-2026-12-rc"], state="pending")
    return ids


def _mutate(aws: LocalAws, ids: dict[str, str], now: datetime) -> None:
    ec2 = aws.client("ec2")
    new_id = ec2.register_image(Name="golden-2026-12", Description="golden-2026-12 platform image")
    ec2.create_tags(Resources=[new_id["ImageId"]], Tags=[{"Key": "team", "Value": "platform"}])
    set_image(
        ids["golden-2026-12-rc"],
        state="failed",
        state_reason={"Code": "Server.InternalError", "Message": "Internal error while copying"},
    )
    past = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    set_image(ids["golden-2026-08"], deprecation_time=past)
    ec2.deregister_image(ImageId=ids["golden-2026-09"])
    ec2.disable_image(ImageId=ids["golden-2026-10"])
    ec2.modify_image_attribute(
        ImageId=ids["golden-base"], LaunchPermission={"Add": [{"Group": "all"}]}
    )


def _run(aws: LocalAws, label: str) -> list[WatchResult]:
    results = []
    for watch in DEMO_WATCHES:
        target = Target(watch.name, ACCOUNT, REGION)
        now = datetime.now(UTC)
        result = run_watch(watch, target, aws.watch_ports(target), now, owner=f"demo-{label}")
        print(f"{label:>9}: {result.summary()}")
        results.append(result)
    return results


def _print_received(aws: LocalAws) -> None:
    bus = aws.bus_events()
    topic = aws.topic_messages()
    print(f"\nEventBridge rule -> SQS received {len(bus)} events:")
    print(render_table([event["detail"] for event in bus]))
    print(f"\nSNS topic -> SQS subscriber received {len(topic)} messages:")
    for message in topic:
        code = message["attributes"].get("state_reason_code", "")
        print(f"  {message['subject']}" + (f"   [state_reason_code={code}]" if code else ""))
    same = {e["detail"]["eventId"] for e in bus} == {m["detail"]["eventId"] for m in topic}
    print(f"\nSame eventIds on both channels: {same}")
    _print_people(aws)


def _print_people(aws: LocalAws) -> None:
    chat = aws.chat_messages()
    print(f"\nChat topic -> channel received {len(chat)} custom notifications "
          "(what Slack/Teams show):")  # fmt: skip
    for note in chat:
        content = note["content"]
        print(f"\n  # {content['title']}   [thread {note['metadata']['threadId']}]")
        print(_indent(content["description"], "  | "))
        for step in content.get("nextSteps", []):
            print(f"  > next: {step}")
    people = aws.people_messages()
    print(f"\nEmail subscriptions receive {len(people)} messages; each reads:")
    for message in people:
        print(f"\n  Subject: {message['subject']}")
        print(_indent(change_email(message["detail"], "aws"), "  | "))


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def main() -> None:
    """Run the demo end to end and print what subscribers received."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        aws = LocalAws.provision(endpoint_url=f"http://{host}:{port}")
        print(f"moto server on http://{host}:{port}; table, topic, bus and queues created\n")
        ids = _seed(aws)
        _run(aws, "baseline")
        print(
            "\nChanging AMIs: 1 new, 1 failed (Server.InternalError), 1 deprecated, "
            "1 deregistered, 1 disabled, 1 made public\n"
        )
        _mutate(aws, ids, datetime.now(UTC))
        _run(aws, "second")
        _print_received(aws)
        print()
        _run(aws, "third")
        print("           (an unchanged run publishes nothing)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
