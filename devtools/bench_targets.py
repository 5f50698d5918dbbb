"""`make bench-targets`: what one target costs the fanned-out watcher, and so how many fit a period.

A warm worker process plays the Lambda: it calls the real handler once per target (a direct
`{"target"}` event: the scan a dispatched message runs), over 4 accounts x 6 regions (3 member
accounts reached through STS AssumeRole). EC2 answers come from the synthetic fleet
(devtools.fleet, one per size, the same pages in every account and region); STS, DynamoDB, SNS
and EventBridge from a moto server. Both run in their own processes. Prints one JSON row per
fleet size and writes bench/targets.json; then the organisation row (devtools.bench_org: 2,000
targets through the dispatcher and the target queue, template sizes) to bench/organization.json.
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
from pathlib import Path
from typing import Any

from devtools import bench_org
from devtools.bench import REGION, LambdaContext, results_dir
from devtools.bench_servers import local_credentials, local_endpoints

SIZES = (1_000, 10_000)  # the default, quick run (~5 min)
RECORDED_SIZES = (1_000, 10_000, 50_000)  # the run docs/performance.md quotes (~35 min)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1")
MEMBERS = ("111111111111", "222222222222", "333333333333")
CONCURRENCY = 10  # the stack's default reserved concurrency
PERIOD_S = 3600  # the default schedule, rate(1 hour)
SHARE = 0.8  # leave a fifth of the period as headroom


def worker(args: argparse.Namespace) -> None:
    """One warm 'Lambda': every target once for the baseline, then once more unchanged."""
    from amiwatch.entry.handler import handler  # noqa: PLC0415  (after the environment is set)

    watch = {"name": "fleet", "owners": ["self"], "regions": list(REGIONS),
             "accounts": ["self", *({"id": m} for m in MEMBERS)]}  # fmt: skip
    watches = Path(tempfile.mkdtemp(prefix="amiwatch-bench-")) / "watches.json"
    watches.write_text(json.dumps({"watches": [watch]}))
    os.environ["AMIWATCH_WATCHES_FILE"] = str(watches)
    targets = [{"watch": "fleet", "account": a, "region": r}
               for a in ("self", *MEMBERS) for r in REGIONS]  # fmt: skip
    timings: dict[str, list[float]] = {"baseline": [], "unchanged": []}
    for spent in timings.values():
        for target in targets:
            started = time.perf_counter()
            handler({"target": target}, LambdaContext())
            spent.append(time.perf_counter() - started)
    unchanged = sorted(timings["unchanged"])
    per_target = statistics.median(unchanged)
    print(json.dumps({
        "images_per_target": args.images,
        "targets": len(targets),
        "baseline_s_median": round(statistics.median(timings["baseline"]), 3),
        "unchanged_s_median": round(per_target, 3),
        "unchanged_s_max": round(unchanged[-1], 3),
        "first_member_target_s": round(timings["baseline"][len(REGIONS)], 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets_per_hour_at_concurrency_10": int(CONCURRENCY * PERIOD_S * SHARE / per_target),
    }))  # fmt: skip


def measure(size: int, env: dict[str, str]) -> dict[str, Any]:
    with local_endpoints(size, env) as local:
        worker_env = {
            **env,
            "AWS_ENDPOINT_URL": local.moto_url,
            "AWS_ENDPOINT_URL_EC2": local.fleet_url,  # every account and region reads the fleet
            "AWS_REGION": REGION,
            "AMIWATCH_TABLE": local.aws.table_name,
            "AMIWATCH_TOPIC_ARN": local.aws.topic_arn,
            "AMIWATCH_BUS_NAME": local.aws.bus_name,
            "AMIWATCH_EXTERNAL_ID": "bench-external-id",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        command = [
            sys.executable,
            "-m",
            "devtools.bench_targets",
            "--worker",
            "--images",
            str(size),
        ]
        out = subprocess.run(command, env=worker_env, capture_output=True, text=True, check=True)
        row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--org-sample", type=int, default=bench_org.SAMPLE,
                        help="organisation row: scans per phase (0: all: hours)")  # fmt: skip
    parser.add_argument("--org-accounts", type=int, default=bench_org.ACCOUNTS,
                        help="accounts of the organisation row (0: leave the row out)")  # fmt: skip
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    env = local_credentials()
    sizes = tuple(map(int, args.sizes.split(",")))
    rows = [measure(size, env) for size in sizes]
    out = results_dir(sizes, RECORDED_SIZES)
    (out / "targets.json").write_text(json.dumps(rows, indent=1) + "\n")
    if args.org_accounts:
        measured = bench_org.measure(env, args.org_accounts, args.org_sample)
        organization = {"organization": measured,
                        "templates": bench_org.template_sizes()}  # fmt: skip
        print(json.dumps(organization), flush=True)
        recorded = (args.org_accounts, args.org_sample) == (bench_org.ACCOUNTS, bench_org.SAMPLE)
        org_out = results_dir((1,), (1,) if recorded else ())
        (org_out / "organization.json").write_text(json.dumps(organization, indent=1) + "\n")


if __name__ == "__main__":
    main()
