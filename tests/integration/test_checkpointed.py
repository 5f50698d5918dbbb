"""A scan longer than one invocation, through the handler: the dispatched scan checkpoints as
its Lambda's time runs short, its continuation goes on the target queue, and the next
invocations finish it; only the completion counts as a success."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from amiwatch.entry import status
from amiwatch.entry.handler import handler
from amiwatch.wiring import runs as edges_module
from devtools.fleet import serve
from devtools.local_aws import ACCOUNT, REGION, LocalAws

from .conftest import FakeLambdaContext
from .mapped_queue import MappedQueue
from .test_handler import emf_metrics

FLEET, PAGE = 300, 100


@dataclass
class ShortOfTime(FakeLambdaContext):
    """A Lambda context whose time runs out after `pages` DescribeImages pages: 900 s at the
    start, then less than the margin once those pages are read."""

    pages: int = 1
    calls: int = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1  # the first call sets the margin (135 s); then one call per page
        return 900_000 if self.calls <= self.pages else 60_000


@pytest.fixture
def fleet_queue(
    aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MappedQueue]:
    server, _ = serve(FLEET, page_size=PAGE)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(edges_module, "target_ec2", lambda *args: boto3.client(
        "ec2", region_name=REGION, endpoint_url=url))  # fmt: skip
    # The memory rule reads the process's resident set: here pytest's, not a Lambda's.
    monkeypatch.setattr(edges_module, "resident_mb", lambda: 150.0)
    queue = MappedQueue(aws, "targets", 5400)
    watches_file = tmp_path / "watches.json"
    watches_file.write_text(json.dumps({"watches": [{"name": "fleet", "owners": ["self"]}]}))
    for name, value in {
        "AMIWATCH_TABLE": aws.table_name, "AMIWATCH_TOPIC_ARN": aws.topic_arn,
        "AMIWATCH_BUS_NAME": aws.bus_name, "AMIWATCH_WATCHES_FILE": str(watches_file),
        "AWS_REGION": REGION, "AMIWATCH_TARGET_QUEUE_URL": queue.url,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    yield queue
    server.shutdown()


def deliver(queue: MappedQueue, context: FakeLambdaContext) -> dict[str, Any]:
    event = queue.batch(size=1)
    assert event["Records"], "no message on the target queue"
    response = handler(event, context)
    assert response["batchItemFailures"] == []
    queue.sqs.delete_message(QueueUrl=queue.url,
                             ReceiptHandle=event["Records"][0]["receiptHandle"])  # fmt: skip
    return json.loads(event["Records"][0]["body"])


def test_a_scan_short_of_time_continues_on_the_target_queue_until_it_completes(
    aws, fleet_queue, capsys
):
    handler({"dispatch": {"watch": "fleet"}}, FakeLambdaContext())
    bodies = []
    for n in range(3):
        bodies.append(deliver(fleet_queue, ShortOfTime(aws_request_id=f"req-{n}")))
    output = capsys.readouterr().out

    assert "scanId" not in bodies[0]["scan"]  # the dispatcher's message
    assert bodies[1]["scan"]["scanId"] == bodies[2]["scan"]["scanId"]  # its continuations
    assert bodies[1]["scan"]["scanId"].endswith("#req-0")
    assert fleet_queue.visible() == 0  # the third invocation completed the scan
    metrics: Counter[str] = Counter()
    for line in output.splitlines():  # summed over the invocations (and dimensions)
        for (name, _), value in emf_metrics(line).items():
            metrics[name] += value
    assert metrics["ScanCheckpoints"] == 2 and metrics["ResumedScansCompleted"] == 1
    assert metrics["SuccessfulRuns"] == 1 and metrics["ImagesScanned"] == FLEET
    meta = aws.client("dynamodb").get_item(
        TableName=aws.table_name, Key={"pk": {"S": f"target#fleet#{ACCOUNT}#{REGION}"},
                                       "sk": {"S": "meta"}})["Item"]  # fmt: skip
    assert meta["imageCount"]["N"] == str(FLEET) and "lastSuccessAt" in meta


def test_status_shows_a_scan_in_progress_and_the_target_is_fresh_only_once_it_completes(
    aws, fleet_queue, tmp_path, capsys
):
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"amiwatch": {"watches": [
        {"name": "fleet", "owners": ["self"]}]}}}))  # fmt: skip
    handler({"dispatch": {"watch": "fleet"}}, FakeLambdaContext())
    deliver(fleet_queue, ShortOfTime(aws_request_id="req-0"))
    capsys.readouterr()
    flags = ["--config", str(config), "--table", aws.table_name, "--region", REGION]

    code = status.main([*flags, "--json"])
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    status.main(flags)
    table = capsys.readouterr().out.splitlines()

    assert code == status.EXIT_STALE and row["state"] == "never"
    assert row["scanInProgress"]["images"] == PAGE and row["scanInProgress"]["invocations"] == 1
    assert table[0].split()[-3:] == ["scan", "in", "progress"]
    since = row["scanInProgress"]["startedAt"]
    assert table[1].endswith(f"100 images, 1 pages in 1 invocations since {since}")
    deliver(fleet_queue, FakeLambdaContext(aws_request_id="req-1"))  # time enough: it completes
    capsys.readouterr()
    assert status.main([*flags, "--json"]) == status.EXIT_OK
    assert json.loads(capsys.readouterr().out)["scanInProgress"] is None
