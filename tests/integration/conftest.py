"""moto-backed fixtures: the resources the stack creates, and AMIs to watch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from devtools.local_aws import ACCOUNT, REGION, LocalAws

WATCHES = [
    {
        "name": "golden",
        "owners": ["self"],
        "filters": {"tag:team": ["platform"]},
        "deprecationWarningDays": 14,
    }
]


@dataclass
class FakeLambdaContext:
    function_name: str = "amiwatch"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amiwatch"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000  # a fresh invocation of the stack's 900 s function


@pytest.fixture
def aws(request: pytest.FixtureRequest):
    """Everything in moto; parametrize indirectly with an SNS filter policy for the subscriber."""
    with mock_aws():
        yield LocalAws.provision(filter_policy=getattr(request, "param", None))


@pytest.fixture
def lambda_env(aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment the stack gives the Lambda, with the watch list in a file."""
    watches_file = tmp_path / "watches.json"
    watches_file.write_text(json.dumps({"watches": WATCHES}))
    monkeypatch.setenv("AMIWATCH_TABLE", aws.table_name)
    monkeypatch.setenv("AMIWATCH_TOPIC_ARN", aws.topic_arn)
    monkeypatch.setenv("AMIWATCH_CHAT_TOPIC_ARN", aws.chat_topic_arn)
    monkeypatch.setenv("AMIWATCH_BUS_NAME", aws.bus_name)
    monkeypatch.setenv("AMIWATCH_WATCHES_FILE", str(watches_file))
    monkeypatch.setenv("AWS_REGION", REGION)
    return watches_file


def register(aws: LocalAws, name: str, team: str = "platform") -> str:
    ec2 = aws.shared_client("ec2")
    image_id: str = ec2.register_image(Name=name, Description=f"{name} image")["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": team}])
    return image_id


def by_change(details: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for detail in details:
        grouped.setdefault(detail["change"], []).append(detail)
    return grouped
