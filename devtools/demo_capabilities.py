"""`make demo`, what no rival has: a vulnerable AMI in use with what to move to, the forecast of
what will break, a recommended AMI that moved, and the Allowed AMIs refusing an image in use."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from amiwatch.aws.forecasts import stored_records
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.judge.forecast import Horizon
from amiwatch.messages.forecast import forecast_chat_entry, forecast_email, people_part
from amiwatch.messages.mail import change_email
from amiwatch.model.contract import Target
from amiwatch.model.records import format_time
from amiwatch.model.watch_config import parse_watch
from amiwatch.model.watches import Watch
from amiwatch.run.forecast import forecast_target
from amiwatch.run.pipeline import run_watch
from devtools.doubles.image_findings import Inspector
from devtools.doubles.image_references import answer_image_references
from devtools.doubles.image_visibility import AllowedAmis, Ec2Visibility
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image, set_parameter

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def vulnerable(aws: LocalAws, watch: Watch, base: str) -> None:
    """Amazon Inspector finds a critical vulnerability in an image an instance still runs (its
    fix has been out for 20 days: the forecast calls it overdue)."""
    aws.shared_client("ec2").run_instances(ImageId=base, MinCount=1, MaxCount=1)
    scanned = datetime.now(UTC) - timedelta(hours=2)
    inspector = Inspector(
        scans={base: {"HighestFindingSeverityLabel": "critical", "FindingScanDate": scanned,
                      "CriticalFixAvailableSince": scanned - timedelta(days=20)}},
        findings={base: [{"Title": "CVE-2026-31337 - openssl", "SeverityLabel": "critical",
                          "Score": 9.8, "FixAvailable": True}]},
    )  # fmt: skip
    target = Target(watch.name, ACCOUNT, REGION)
    scanner = inspector.install(answer_image_references(aws.client("ec2")))
    ports = replace(aws.watch_ports(target), images=Ec2Images(scanner))
    print(
        "\nAmazon Inspector finds a CRITICAL vulnerability in golden-base, which an instance runs:"
    )
    run_watch(watch, target, ports, datetime.now(UTC), owner="demo-inspector")
    [event] = aws.bus_events()
    [note] = aws.chat_messages()
    [email] = aws.people_messages()
    print(f"  EventBridge: {event['detail-type']}, severity "
          f"{event['detail']['findings']['highestSeverity']}, usage total "
          f"{event['detail']['usage']['total']}")  # fmt: skip
    print(f"  chat:  # {note['content']['title']}")
    said = note["content"]["description"].splitlines()
    print(indent("\n".join(line for line in said if line.startswith("*Replacement:*")), " " * 9))
    print(f"  email: {email['subject']}")
    text = change_email(email["detail"], "aws").splitlines()
    body = [line for line in text if line and not line.startswith("Instances launched")]
    print(indent("\n".join(body[:5]), "         "))


def forecast(aws: LocalAws, watch: Watch) -> None:
    """The weekly forecast of the golden watch: what is in use and will break within 30 days."""
    target = Target(watch.name, ACCOUNT, REGION)
    store = DynamoSnapshotStore(aws.shared_client("dynamodb"), aws.table_name, target)
    now, horizon = datetime.now(UTC), Horizon()
    period = format_time(now)
    visible = Ec2Visibility(ACCOUNT, REGION, shares=False)
    ec2 = Ec2Images(visible.install(answer_image_references(aws.client("ec2"))))
    result = forecast_target(watch, target, stored_records(store), ec2, now, horizon,
                             period=period, bus_name=aws.bus_name)  # fmt: skip
    parts = [people_part(result.detail)]
    note = json.loads(forecast_chat_entry(watch.name, period, now, horizon, parts)["Message"])
    print("\nThe weekly forecast (forecastSchedule) reads the snapshot, then asks who uses what "
          f"is due ({result.due} of {result.images} images):")  # fmt: skip
    print(f"  EventBridge: AMI Forecast, {len(result.rows)} row(s), "
          f"{result.reference_calls} DescribeImageReferences call(s)")  # fmt: skip
    print(f"  chat:  # {note['content']['title']}")
    email = forecast_email(watch.name, period, horizon, parts, aws.bus_name).splitlines()
    print(f"  email: {email[0]}")
    print(indent("\n".join(line for line in email[2:6]), " " * 9))


def recommended(aws: LocalAws) -> None:
    """A watch of an SSM public parameter: AWS publishes a new recommended AL2023 AMI."""
    watch = parse_watch({"name": "base", "parameters": [AL2023]})
    target = Target(watch.name, ACCOUNT, REGION)
    old, new = (register(aws, f"al2023-ami-2023.9.2026{n}-x86_64") for n in ("1020", "1127"))
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


def disallowed(aws: LocalAws) -> None:
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
    print(indent(note["content"]["description"].split("\n", 1)[0], "         "))
    print(f"         > next: {note['content']['nextSteps'][0]}")
    print(f"  email: {email['subject']}")
    said = [line for line in change_email(email["detail"], "aws").splitlines() if line]
    print(indent("\n".join(said[:2]), "         "))


def register(aws: LocalAws, name: str, team: str = "platform") -> str:
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


def indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
