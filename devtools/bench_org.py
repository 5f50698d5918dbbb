"""The organisation row of `make bench-targets`: 2,000 targets (500 accounts of one OU x 4
regions, 100 images each) dispatched through the target queue and scanned, against a moto
server (Organizations, STS AssumeRole, DynamoDB, SNS, EventBridge), the synthetic fleet, and an
in-memory SQS (devtools.queue_stub: moto's SQS spends ~20 ms per message sent, which would time
moto rather than the dispatcher).

One dispatch is timed at 2,000 targets and one at 10,000 (500 accounts x 20 regions). The scans
run in two consumer processes (this machine has two cores), each a warm "Lambda" taking one
message at a time as the event source mapping hands them over. They run the first SAMPLE
dispatched targets twice (a baseline, then unchanged): moto's server, not the watcher, bounds
the rate here (one CPU-bound process, slower as its table grows: all 2,000 baselines had not
finished after 28 minutes), so the total at `targetConcurrency` is extrapolated from the
per-target times. Also: the synthesized template's
size at 20 and 2,000 static targets, and for 10 watches of 2,000 targets each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3

from devtools.bench import REGION, LambdaContext
from devtools.bench_servers import local_endpoints

ACCOUNTS, IMAGES = 500, 100
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
WIDE_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
    "me-south-1", "af-south-1",
)  # fmt: skip
CONSUMERS = 2
SAMPLE = 200  # scans per phase: the first of the dispatched targets, the same both times
CONCURRENCY, TARGET_CONCURRENCY = 10, 7  # the stack's defaults with organisation entries


def consumer(_: argparse.Namespace) -> None:
    """A warm 'Lambda' on the target queue: one message per invocation until it is empty."""
    from amiwatch.entry.handler import handler  # noqa: PLC0415  (after the environment is set)

    sqs = boto3.client("sqs", region_name=REGION)
    url, arn = os.environ["AMIWATCH_TARGET_QUEUE_URL"], os.environ["BENCH_QUEUE_ARN"]
    spent, failed = [], 0
    while len(spent) < int(os.environ["BENCH_SCANS"]):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            break
        [m] = messages
        record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                  "body": m["Body"], "attributes": {"ApproximateReceiveCount": "1"},
                  "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": arn,
                  "awsRegion": REGION}  # fmt: skip
        started = time.perf_counter()
        answer = handler({"Records": [record]}, LambdaContext())
        spent.append(time.perf_counter() - started)
        if answer["batchItemFailures"]:
            failed += 1
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps({"spent": spent, "failed": failed, "peak_rss_mb": rss}))


def _organization(moto_url: str, accounts: int) -> str:
    """An organisation with one OU of `accounts` accounts; its id."""
    org = boto3.client("organizations", region_name=REGION, endpoint_url=moto_url)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    unit = str(
        org.create_organizational_unit(ParentId=root, Name="fleet")["OrganizationalUnit"]["Id"]
    )
    for n in range(accounts):
        made = org.create_account(Email=f"a{n}@example.com", AccountName=f"a{n}")
        account = made["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
    return unit


def _dispatch(env: dict[str, str], watch: str, queue_url: str) -> dict[str, Any]:
    script = (
        "import json; from amiwatch.entry.handler import handler; "
        "from devtools.bench import LambdaContext; "
        f"print(json.dumps(handler({{'dispatch': {{'watch': '{watch}'}}}}, LambdaContext())))"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script],
                         env={**env, "AMIWATCH_TARGET_QUEUE_URL": queue_url},
                         capture_output=True, text=True, check=True)  # fmt: skip
    summary: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    summary["wall_s"] = round(time.perf_counter() - started, 3)  # with the process's start
    return summary


def _consume(env: dict[str, str], targets: int, sample: int) -> dict[str, Any]:
    """Run `sample` of the dispatched scans; extrapolate the wall time of all `targets`."""
    command = [sys.executable, "-m", "devtools.bench_org", "--consumer"]
    started = time.perf_counter()
    each = {**env, "BENCH_SCANS": str(-(-sample // CONSUMERS))}
    # Files, not pipes: the handler prints a metric line per scan, and a pipe nobody reads yet
    # would block a consumer (and count the wait as scan time).
    answers = []
    with ExitStack() as files:
        outputs = [files.enter_context(tempfile.TemporaryFile("w+")) for _ in range(CONSUMERS)]
        workers = [subprocess.Popen(command, env=each, stdout=out, text=True) for out in outputs]
        for worker, out in zip(workers, outputs, strict=True):
            worker.wait()
            out.seek(0)
            answers.append(json.loads(out.read().strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    spent = sorted(s for a in answers for s in a["spent"])
    all_targets_s = statistics.mean(spent) * targets
    return {
        "scans": len(spent),
        "failed": sum(a["failed"] for a in answers),
        "s_median": round(statistics.median(spent), 3),
        "s_max": round(spent[-1], 3),
        "wall_s_with_2_consumers": round(wall, 1),
        f"all_{targets}_wall_s_at_concurrency_{TARGET_CONCURRENCY}": round(
            all_targets_s / TARGET_CONCURRENCY, 1
        ),
        "peak_rss_mb": max(a["peak_rss_mb"] for a in answers),
    }


def _purge(host: str, url: str) -> None:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=host)
    sqs.purge_queue(QueueUrl=url)


def measure(env: dict[str, str], accounts: int = ACCOUNTS, sample: int = SAMPLE) -> dict[str, Any]:
    """The organisation row; `sample` scans per phase (0: every target)."""
    queues = subprocess.Popen([sys.executable, "-m", "devtools.queue_stub"], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert queues.stdout is not None
    queue_host = f"http://127.0.0.1:{queues.stdout.readline().strip()}"
    url, wide_url = f"{queue_host}/123456789012/targets", f"{queue_host}/123456789012/wide"
    with local_endpoints(IMAGES, env) as local:
        unit = _organization(local.moto_url, accounts)
        scope = {"organizationalUnit": unit}
        watches = [
            {"name": "org", "owners": ["self"], "regions": list(REGIONS), "accounts": [scope]},
            {"name": "wide", "owners": ["self"], "regions": list(WIDE_REGIONS),
             "accounts": [scope]},
        ]  # fmt: skip
        watches_file = Path(tempfile.mkdtemp(prefix="amiwatch-org-")) / "watches.json"
        watches_file.write_text(json.dumps({"watches": watches}))
        worker_env = {
            **env, "AWS_ENDPOINT_URL": local.moto_url, "AWS_ENDPOINT_URL_EC2": local.fleet_url,
            "AWS_REGION": REGION, "AMIWATCH_TABLE": local.aws.table_name,
            "AMIWATCH_TOPIC_ARN": local.aws.topic_arn, "AMIWATCH_BUS_NAME": local.aws.bus_name,
            "AMIWATCH_EXTERNAL_ID": "bench-external-id", "AMIWATCH_WATCHES_FILE": str(watches_file),
            "AMIWATCH_TARGET_QUEUE_URL": url, "AWS_ENDPOINT_URL_SQS": queue_host,
            "BENCH_QUEUE_ARN": f"arn:aws:sqs:{REGION}:123456789012:targets",
            "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        try:
            wide = _dispatch(worker_env, "wide", wide_url)  # timed, not scanned
            first = _dispatch(worker_env, "org", url)
            scans = sample or first["targets"]
            baseline = _consume(worker_env, first["targets"], scans)
            _purge(queue_host, url)
            second = _dispatch(worker_env, "org", url)
            unchanged = _consume(worker_env, first["targets"], scans)
        finally:
            queues.kill()
    return {
        "targets": first["targets"], "accounts": accounts, "regions": len(REGIONS),
        "images_per_target": IMAGES,
        "dispatch_s": first["seconds"], "dispatch_s_10k_targets": wide["seconds"],
        "dispatch_process_s_10k": wide["wall_s"],
        "dispatched_10k": wide["enqueued"], "organization_calls": first["organizationCalls"],
        "new_targets_first_dispatch": first["newTargets"],
        "new_targets_second_dispatch": second["newTargets"],
        "baseline": baseline, "unchanged": unchanged,
    }  # fmt: skip


def template_sizes() -> list[dict[str, Any]]:
    """Resources and bytes of the synthesized watcher template as targets grow."""
    from app import build_app  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    context = json.loads((root / "cdk.json").read_text())["context"]
    rows = []
    for watches, accounts, regions in ((1, 5, 4), (1, 500, 4), (10, 500, 4)):
        listed = ["self", *({"id": f"{i:012d}"} for i in range(1, accounts))]
        config = {"externalId": "bench-x1", "watches": [
            {"name": f"w{n}", "owners": ["self"], "regions": list(REGIONS[:regions]),
             "accounts": listed} for n in range(watches)]}  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            assembly = build_app({**context, "amiwatch": config}, out).synth()
            template = assembly.get_stack_by_name("AmiWatch").template
            rows.append({"watches": watches, "targets": watches * accounts * regions,
                         "resources": len(template["Resources"]),
                         "template_bytes": len(json.dumps(template))})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consumer:
        consumer(args)


if __name__ == "__main__":
    main()
