"""`make demo`: the whole watcher against an embedded moto server, no AWS account needed.

Seeds golden AMIs, takes a silent baseline, changes the AMIs the ways real ones change, runs
again and prints what the subscribers received: the EventBridge events, the SNS topic's messages,
one chat notification and one email in full (the others as one line each). A third run shows that
an unchanged fleet publishes nothing.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from moto.server import ThreadedMotoServer

from amiwatch.aws.scan import Ec2Images
from amiwatch.entry.output import Printer
from amiwatch.messages.chat import wants_chat
from amiwatch.messages.mail import change_email
from amiwatch.model import defaults
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.doubles.image_findings import Inspector
from devtools.doubles.image_references import answer_image_references
from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image, set_parameter

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
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _seed(aws: LocalAws) -> dict[str, str]:
    ids = {name: _register(aws, name) for name in NAMES}
    set_image(ids["golden-2026-12-rc"], state="pending")
    return ids


def _register(aws: LocalAws, name: str, team: str = "platform") -> str:
    ec2 = aws.shared_client("ec2")
    image_id: str = ec2.register_image(Name=name, Description=f"{name} platform image")["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": team}])
    set_image(image_id, creation_date=_created(name))
    return image_id


def _created(name: str) -> datetime:
    """golden-2026-08 was built in August 2026 (moto stamps every image with now)."""
    year, month = [*name.split("-")[1:3], "", ""][:2]
    if year.isdigit() and month.isdigit():
        return datetime(int(year), int(month), 1, tzinfo=UTC)
    return datetime(2026, 1, 1, tzinfo=UTC)  # golden-base: the oldest


def _mutate(aws: LocalAws, ids: dict[str, str], now: datetime) -> None:
    ec2 = aws.shared_client("ec2")
    _register(aws, "golden-2026-12")
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


def _run(aws: LocalAws, label: str) -> None:
    target = Target(WATCH.name, ACCOUNT, REGION)
    now = datetime.now(UTC)
    result = run_watch(WATCH, target, aws.watch_ports(target), now, owner=f"demo-{label}")
    summary = result.summary()
    shown = {k: summary[k] for k in ("watch", "baseline", "images", "changes", "undelivered")}
    print(f"{label} run: {json.dumps(shown)}")


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
    print(f"\nChat (Slack/Teams) received {len(chat)} notifications. Not {', '.join(kinds)}: "
          "chatChanges selects what reaches chat, and by default leaves those out.")  # fmt: skip
    people = {m["detail"]["image"]["Name"]: m for m in aws.people_messages()}
    used, unused = people[IN_USE]["detail"], people[UNUSED]["detail"]
    print(f"\nThe deprecation of {IN_USE}, which something still uses, in chat:\n")
    note = chat.pop(used["eventId"])
    print(f"  # {note['content']['title']}")
    description = note["content"]["description"].splitlines()
    print(_indent("\n".join(description[:3]), "  | "))
    print(f"  | ... ({len(description) - 3} more lines: the facts, the console link)")
    for step in note["content"].get("nextSteps", []):
        print(f"  > next: {step}")
    print(f"\n... and by email ({len(people)} messages in all):\n")
    print(f"  Subject: {people[IN_USE]['subject']}")
    print(_indent(change_email(used, "aws"), "  | "))
    print(f"\nThe deprecation of {UNUSED}, which nothing uses, reads first:")
    print(_indent("\n".join(change_email(unused, "aws").splitlines()[:3]), "  | "))
    print("\nThe other chat notifications:")
    for other in chat.values():
        print(f"  # {other['content']['title']}")


def _recommended(aws: LocalAws) -> None:
    """A watch of an SSM public parameter: AWS publishes a new recommended AL2023 AMI."""
    watch = parse_watch({"name": "base", "parameters": [AL2023]})
    target = Target(watch.name, ACCOUNT, REGION)
    old, new = (_register(aws, f"al2023-ami-2023.9.2026{n}-x86_64") for n in ("1020", "1127"))
    set_parameter(AL2023, old)
    run_watch(watch, target, aws.watch_ports(target), datetime.now(UTC), owner="demo-params")
    set_parameter(AL2023, new)
    print(f"\nA watch of the public parameter {AL2023}: AWS moves it to a new AMI.")
    run_watch(watch, target, aws.watch_ports(target), datetime.now(UTC), owner="demo-params-2")
    [event] = aws.bus_events()
    [note] = [n for n in aws.chat_messages() if n["content"]["title"].startswith("NOTICE: AMI rec")]
    [email] = aws.people_messages()
    moved = event["detail"]["parameter"]
    versions = f"{moved['previousVersion']} -> {moved['version']}"
    print(f"  EventBridge: {event['detail-type']}, parameter version {versions}")
    print(f"  chat:  # {note['content']['title']}")
    print(f"         {note['content']['description'].splitlines()[0]}")
    print(f"  email: {email['subject']}")
    print(f"         {change_email(email['detail'], 'aws').splitlines()[0]}")


def _disallowed(aws: LocalAws) -> None:
    """A watch of vendor images: the account's Allowed AMIs start refusing one still in use."""
    watch = parse_watch({"name": "vendors", "owners": ["amazon", "aws-marketplace"]})
    target = Target(watch.name, ACCOUNT, REGION)
    ec2 = aws.shared_client("ec2")
    ids = {}
    for name, owner, alias in (
        ("al2023-ami-2023.9.20261127-x86_64", "137112412989", "amazon"),
        ("cis-hardened-rhel-9-v4", "679593333241", "aws-marketplace"),
    ):
        ids[alias] = ec2.register_image(Name=name, Description=name)["ImageId"]
        ec2.modify_image_attribute(ImageId=ids[alias], LaunchPermission={"Add": [{"Group": "all"}]})
        set_image(ids[alias], owner_id=owner, owner_alias=alias)
    ec2.run_instances(ImageId=ids["aws-marketplace"], MinCount=2, MaxCount=2)
    visibility = Ec2Visibility(ACCOUNT, REGION)
    scanner = visibility.install(answer_image_references(aws.client("ec2")))
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner))
    run_watch(watch, target, ports, datetime.now(UTC), owner="demo-vendors")
    criteria = [{"ImageProviders": ["amazon"]}]
    visibility.allowed = AllowedAmis("enabled", criteria, refused={ids["aws-marketplace"]})
    print("\nA watch of vendor images; the account's Allowed AMIs are enabled with "
          f"{json.dumps(criteria)}:")  # fmt: skip
    result = run_watch(watch, target, ports, datetime.now(UTC), owner="demo-vendors-2")
    [event] = aws.bus_events()
    [note] = aws.chat_messages()
    [email] = aws.people_messages()
    print(
        f"  run: changes {json.dumps(result.summary()['changes'])}, Allowed AMIs "
        f'{result.summary()["allowedImages"]["state"]} (no false "deregistered")'
    )
    print(
        f"  EventBridge: {event['detail-type']}, reason {event['detail']['reason']}, "
        f"ImageAllowed {event['detail']['image']['ImageAllowed']}"
    )
    print(f"  chat:  # {note['content']['title']}")
    print(_indent(note["content"]["description"].split("\n", 1)[0], "         "))
    print(f"         > next: {note['content']['nextSteps'][0]}")
    print(f"  email: {email['subject']}")
    print(_indent("\n".join(change_email(email["detail"], "aws").splitlines()[:3]), "         "))


def _vulnerable(aws: LocalAws, ids: dict[str, str]) -> None:
    """Amazon Inspector finds a critical vulnerability in an image an instance still runs."""
    base = ids["golden-base"]
    aws.shared_client("ec2").run_instances(ImageId=base, MinCount=1, MaxCount=1)
    scanned = datetime.now(UTC) - timedelta(hours=2)
    inspector = Inspector(
        scans={base: {"HighestFindingSeverityLabel": "critical", "FindingScanDate": scanned,
                      "CriticalFixAvailableSince": scanned - timedelta(days=3)}},
        findings={base: [{"Title": "CVE-2026-31337 - openssl", "SeverityLabel": "critical",
                          "Score": 9.8, "FixAvailable": True}]},
    )  # fmt: skip
    target = Target(WATCH.name, ACCOUNT, REGION)
    scanner = inspector.install(answer_image_references(aws.client("ec2")))
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner))
    print(
        "\nAmazon Inspector finds a CRITICAL vulnerability in golden-base, which an instance runs:"
    )
    run_watch(WATCH, target, ports, datetime.now(UTC), owner="demo-inspector")
    [event] = aws.bus_events()
    [note] = aws.chat_messages()
    [email] = aws.people_messages()
    print(f"  EventBridge: {event['detail-type']}, severity "
          f"{event['detail']['findings']['highestSeverity']}, usage total "
          f"{event['detail']['usage']['total']}")  # fmt: skip
    print(f"  chat:  # {note['content']['title']}")
    said = note["content"]["description"].splitlines()
    print(_indent("\n".join(line for line in said if line.startswith("*Replacement:*")), " " * 9))
    print(f"  email: {email['subject']}")
    text = change_email(email["detail"], "aws").splitlines()
    body = [line for line in text if line and not line.startswith("Instances launched")]
    print(_indent("\n".join(body[:5]), "         "))


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
        print(f"moto server on http://{host}:{port}: table, topics, bus and subscriber queues\n")
        ids = _seed(aws)
        _run(aws, "baseline")
        print(f"\nChanging AMIs: {CHANGES}\n")
        _mutate(aws, ids, datetime.now(UTC))
        _run(aws, "second")
        _print_received(aws)
        print()
        _run(aws, "third")
        print("(an unchanged run publishes nothing)")
        _vulnerable(aws, ids)
        _recommended(aws)
        _disallowed(aws)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
