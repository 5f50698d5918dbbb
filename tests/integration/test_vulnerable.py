"""Vulnerable AMIs against moto: Inspector's findings in the alert, with who is hit and what to
move to. moto has neither ScanResults nor GetImageFindings: devtools.doubles.image_findings
answers them, checked against botocore's model (as DescribeImageReferences is)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from amiwatch.aws.scan import Ec2Images
from amiwatch.messages.mail import change_email
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.run.pipeline import run_watch
from devtools.doubles.image_findings import Inspector
from devtools.doubles.image_references import answer_image_references
from devtools.local_aws import ACCOUNT, REGION, LocalAws, set_image, set_parameter

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
GOLDEN = parse_watch({"name": "golden", "owners": ["self"]})
CRITICAL = {"HighestFindingSeverityLabel": "critical",
            "FindingScanDate": datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            "CriticalFixAvailableSince": datetime(2026, 11, 20, tzinfo=UTC)}  # fmt: skip
FINDINGS = [
    {"Title": "CVE-2026-1234 - openssl", "SeverityLabel": "critical", "Score": 9.8,
     "FixAvailable": True, "FirstObservedAt": datetime(2026, 11, 29, tzinfo=UTC)},
    {"Title": "CVE-2026-2222 - glibc", "SeverityLabel": "high", "Score": 7.5,
     "FixAvailable": False},
]  # fmt: skip


def run(aws: LocalAws, inspector: Inspector, watch, hours: int):
    target = Target(watch.name, ACCOUNT, REGION)
    ec2 = inspector.install(answer_image_references(aws.client("ec2")))
    ports = replace(aws.watch_ports(target), images=Ec2Images(ec2))
    return run_watch(watch, target, ports, T0 + hours * HOUR, owner=f"run-{hours}")


def golden(aws: LocalAws, name: str, created: str) -> str:
    image_id: str = aws.shared_client("ec2").register_image(Name=name)["ImageId"]
    set_image(image_id, creation_date=datetime.fromisoformat(created.replace("Z", "+00:00")))
    return image_id


@pytest.fixture
def fleet(aws: LocalAws) -> dict[str, Any]:
    ids = {"old": golden(aws, "golden-2026-10", "2026-10-01T00:00:00.000Z"),
           "new": golden(aws, "golden-2026-12", "2026-12-01T00:00:00.000Z")}  # fmt: skip
    aws.shared_client("ec2").run_instances(ImageId=ids["old"], MinCount=1, MaxCount=1)
    inspector = Inspector()
    run(aws, inspector, GOLDEN, 0)
    return {"ids": ids, "inspector": inspector}


def test_an_ami_in_use_turning_critical_is_one_vulnerable_with_findings_and_replacement(aws, fleet):
    ids, inspector = fleet["ids"], fleet["inspector"]
    inspector.scans[ids["old"]] = CRITICAL
    inspector.findings[ids["old"]] = FINDINGS

    result = run(aws, inspector, GOLDEN, 1)
    [event] = aws.bus_events()
    [message] = aws.topic_messages()
    [chat] = aws.chat_messages()
    detail = event["detail"]

    assert result.summary()["changes"] == {"vulnerable": 1}
    assert event["detail-type"] == "AMI Vulnerable" and detail["reason"] == "findings"
    assert detail["usage"]["byType"] == {"ec2:Instance": 1}
    assert detail["findings"]["highestSeverity"] == "critical"
    assert detail["findings"]["scanDate"] == "2026-11-30T08:00:00Z"
    assert [f["title"] for f in detail["findings"]["top"]] == [
        "CVE-2026-1234 - openssl", "CVE-2026-2222 - glibc"]  # fmt: skip
    assert detail["replacement"]["ImageId"] == ids["new"]
    assert message["attributes"]["severity"] == "critical"
    assert message["attributes"]["in_use"] == "true"
    assert chat["content"]["title"].startswith("CRITICAL: AMI vulnerable: golden-2026-10")
    email = change_email(message["detail"], "aws").splitlines()
    assert email[2].startswith("Still used by 1 instance")  # who is hit, then its console link
    assert email[5] == f"Move to golden-2026-12 ({ids['new']}), no findings at or above HIGH."
    assert email[7].startswith("Amazon Inspector: highest finding CRITICAL")
    assert "*Replacement:* Move to golden-2026-12" in chat["content"]["description"]
    assert inspector.calls == 1
    assert run(aws, inspector, GOLDEN, 2).summary()["changes"] == {}  # unchanged: nothing


def test_a_rescan_that_only_moves_the_scan_date_is_not_news(aws, fleet):
    ids, inspector = fleet["ids"], fleet["inspector"]
    inspector.scans[ids["old"]] = CRITICAL
    run(aws, inspector, GOLDEN, 1)
    inspector.scans[ids["old"]] = {**CRITICAL, "FindingScanDate": datetime(2026, 12, 1, tzinfo=UTC)}

    assert run(aws, inspector, GOLDEN, 2).summary()["changes"] == {}


def test_findings_that_cannot_be_listed_leave_the_event_delivered_with_the_error(aws, fleet):
    ids, inspector = fleet["ids"], fleet["inspector"]
    inspector.scans[ids["old"]] = CRITICAL
    inspector.refuse = "RequestLimitExceeded"

    result = run(aws, inspector, GOLDEN, 1)
    [event] = aws.bus_events()

    assert result.status == "ok" and result.summary()["changes"] == {"vulnerable": 1}
    assert event["detail"]["findings"]["error"].startswith("RequestLimitExceeded")
    assert event["detail"]["findings"]["highestSeverity"] == "critical"


def test_a_fix_below_the_threshold_is_one_updated(aws, fleet):
    ids, inspector = fleet["ids"], fleet["inspector"]
    inspector.scans[ids["old"]] = CRITICAL
    run(aws, inspector, GOLDEN, 1)
    aws.bus_events()
    low = {
        "HighestFindingSeverityLabel": "low",
        "FindingScanDate": datetime(2026, 12, 1, tzinfo=UTC),
    }
    inspector.scans[ids["old"]] = low

    assert run(aws, inspector, GOLDEN, 2).summary()["changes"] == {"updated": 1}


def test_a_parameters_watch_points_to_the_image_the_parameter_names_now(aws):
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    watch = parse_watch({"name": "base", "parameters": [name]})
    inspector = Inspector()
    old, new = (golden(aws, f"al2023-ami-2023.9.2026{n}-x86_64", f"2026-{m}-01T00:00:00.000Z")
                for n, m in (("1020", "10"), ("1127", "11")))  # fmt: skip
    set_parameter(name, old)
    run(aws, inspector, watch, 0)
    set_parameter(name, new)  # AWS moved the parameter on, and deregistered the old AMI
    aws.shared_client("ec2").deregister_image(ImageId=old)

    result = run(aws, inspector, watch, 1)
    events = {e["detail"]["change"]: e["detail"] for e in aws.bus_events()}

    assert result.summary()["changes"] == {"recommended": 1, "deregistered": 1}
    assert events["deregistered"]["image"]["ImageId"] == old
    assert events["deregistered"]["replacement"]["ImageId"] == new
    assert events["recommended"]["replacement"] is None  # not a kind that needs one
