"""`make bench-refresh`: a targeted refresh of a 100k-image watch, against its full scan; then
that target's forecast.

The fleet (devtools.fleet) and moto run in their own server processes, as in `make bench`. One
worker process takes the baseline, times a full unchanged run (what the schedule does), then
switches the fleet to generation 1 (every 100th image changed) and refreshes 20 batches of 10
changed ids, as the refresh queue would hand them over. Then generation 2 gives 50 images a
DeprecationTime within the forecast's 30 days, a scheduled run records it, and the target's
forecast is timed and its calls counted. Prints one JSON row per batch, the forecast's row and a
summary (median and max), written to bench/refresh.json (bench/quick/ for other sizes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from typing import Any

from amiwatch.aws.forecasts import stored_records
from amiwatch.judge.forecast import Horizon
from amiwatch.run.forecast import forecast_target
from amiwatch.run.pipeline import run_watch
from amiwatch.run.refresh import run_refresh
from devtools.bench import T0, bench_watch, results_dir
from devtools.bench_servers import local_credentials, local_endpoints
from devtools.fleet_images import CHANGE_EVERY, image_id

SIZE, BATCHES, IDS_PER_BATCH = 100_000, 20, 10


def worker(args: argparse.Namespace) -> None:
    counts: Counter[str] = Counter()
    watch, target, store, ports = bench_watch(args, counts)
    run_watch(watch, target, ports, T0, owner="bench-baseline")
    snapshot_bytes = store.stats.snapshot_bytes_read
    started = time.perf_counter()
    run_watch(watch, target, ports, T0 + timedelta(hours=1), owner="bench-unchanged")
    full_s = time.perf_counter() - started
    snapshot_bytes = store.stats.snapshot_bytes_read - snapshot_bytes
    _control(args.fleet, {"generation": 1})
    changed = [image_id(i) for i in range(0, args.images, CHANGE_EVERY)]
    for batch in range(BATCHES):
        first = batch * IDS_PER_BATCH % len(changed)  # a small fleet repeats its changed ids
        ids = changed[first : first + IDS_PER_BATCH]
        before, read_before = Counter(counts), store.stats.snapshot_bytes_read
        started = time.perf_counter()
        result = run_refresh(watch, target, ports, T0 + timedelta(hours=2, minutes=batch), ids,
                             owner=f"bench-refresh-{batch}")  # fmt: skip
        wall = time.perf_counter() - started
        calls = counts - before
        print(json.dumps({
            "batch": batch, "ids": len(ids), "wall_s": round(wall, 4),
            "changes": sum(result.changes.values()),
            "describe_calls": calls["ec2:DescribeImages"],
            "snapshot_bytes_read": store.stats.snapshot_bytes_read - read_before,
            "ddb_calls": sum(v for k, v in calls.items() if k.startswith("dynamodb:")),
            "full_unchanged_s": round(full_s, 3), "full_snapshot_bytes": snapshot_bytes,
        }), flush=True)  # fmt: skip
    _forecast(args, counts, (watch, target, store, ports))


def _forecast(args: argparse.Namespace, counts: Counter[str], bench: tuple[Any, ...]) -> None:
    """The target's forecast once 50 of its images are due (generation 2)."""
    watch, target, store, ports = bench
    _control(args.fleet, {"generation": 2})
    run_watch(watch, target, ports, T0 + timedelta(hours=3), owner="bench-forecast-scan")
    before = Counter(counts)
    started = time.perf_counter()
    # A year's grace: generation 1's critical findings (fixed since 2026-11-20) are not due.
    result = forecast_target(watch, target, stored_records(store), ports.images,
                             T0 + timedelta(hours=4), Horizon(fix_grace_days=365),
                             period="bench", bus_name="amiwatch")  # fmt: skip
    wall = time.perf_counter() - started
    calls = counts - before
    print(json.dumps({"forecast": {
        **result.summary(), "wall_s": round(wall, 3),
        "query_calls": calls["dynamodb:Query"],
        "reference_calls": calls["ec2:DescribeImageReferences"],
        "allowed_settings_calls": calls["ec2:GetAllowedImagesSettings"],
    }}), flush=True)  # fmt: skip


def _control(fleet_url: str, command: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{fleet_url}/control", json.dumps(command).encode())
    urllib.request.urlopen(request).read()


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and max over the batches, and the refresh's share of a full unchanged run."""
    wall = [r["wall_s"] for r in rows]
    read = [r["snapshot_bytes_read"] for r in rows]
    full = rows[0]["full_unchanged_s"]
    return {
        "batches": len(rows),
        "ids_per_batch": IDS_PER_BATCH,
        "wall_s_median": round(statistics.median(wall), 4),
        "wall_s_max": round(max(wall), 4),
        "full_unchanged_s": full,
        "wall_share_of_full_median_pct": round(100 * statistics.median(wall) / full, 2),
        "wall_share_of_full_max_pct": round(100 * max(wall) / full, 2),
        "describe_calls_max": max(r["describe_calls"] for r in rows),
        "changes_total": sum(r["changes"] for r in rows),
        "snapshot_bytes_read_median": int(statistics.median(read)),
        "snapshot_bytes_read_max": max(read),
        "full_snapshot_bytes": rows[0]["full_snapshot_bytes"],
        "ddb_calls_max": max(r["ddb_calls"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=SIZE)
    parser.add_argument("--fleet")
    parser.add_argument("--moto")
    parser.add_argument("--topic-arn")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    env = local_credentials()
    with local_endpoints(args.images, env) as local:
        command = [sys.executable, "-m", "devtools.bench_refresh", "--worker", "--images",
                   str(args.images), "--fleet", local.fleet_url, "--moto", local.moto_url,
                   "--topic-arn", local.aws.topic_arn]  # fmt: skip
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"batch"')]
    [forecast] = [json.loads(line)["forecast"] for line in out.stdout.splitlines()
                  if line.startswith('{"forecast"')]  # fmt: skip
    summary = {"images": args.images, **summarize(rows), "forecast": forecast}
    print(json.dumps(summary))
    full = (SIZE,) if args.images == SIZE else ()
    out_dir = results_dir((args.images,), full)
    (out_dir / "refresh.json").write_text(json.dumps({"summary": summary, "batches": rows},
                                                     indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
