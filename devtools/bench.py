"""`make bench`: the watcher at 1k..200k images, against the bare scan of the same pages; then
1M and 2M images, whose baselines outlive one invocation at a simulated limit (scale rows).

The fleet (devtools.fleet) and moto each run in their own server process, so neither's memory or
CPU is counted as the watcher's. Every measured run happens in a fresh worker process, which
first times a bare boto3 scan of the same pages (the floor) and then the watcher run, and reports
its own peak RSS. Prints one JSON object per (images, run) and writes bench/results.json;
bench/diagnostics.json adds where the time went (bare scan, GC, AWS-edge phases).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from amiwatch.aws.clients import RETRY, client
from amiwatch.aws.publish import BusTopicPublisher
from amiwatch.aws.scan import Ec2Images
from amiwatch.aws.store import DynamoSnapshotStore
from amiwatch.messages.sns import TOPIC
from amiwatch.model.contract import Target
from amiwatch.model.watch_config import parse_watch
from amiwatch.model.watches import Watch
from amiwatch.run.checkpoint import Deadline
from amiwatch.run.pipeline import WatchPorts, run_watch
from amiwatch.wiring.runs import resident_mb
from devtools.bench_servers import change_fleet, local_credentials, local_endpoints

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 10_000, 100_000, 200_000)
RUNS = ("baseline", "unchanged", "changed", "left", "purged")
# Scale rows: every invocation gets SCALE_LIMIT_S (Lambda's own 900 s) and 1,024 MB, and a
# worker process of its own; the floor is measured once per size.
SCALE = {1_000_000: ("baseline", "unchanged", "changed"), 2_000_000: ("baseline",)}
SCALE_LIMIT_S = 900.0
REGION = "us-east-1"
T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


class LambdaContext:
    """What the handler reads of Lambda's context, in the benchmarks' warm 'Lambdas'."""

    function_name = "amiwatch"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:amiwatch"
    aws_request_id = "bench"


# --- worker: one measured run in its own process --------------------------------------------


def _counting(service: str, endpoint: str, counts: Counter[str]) -> Any:
    made = client(service, region=REGION, endpoint_url=endpoint)
    made.meta.events.register(
        f"before-call.{made.meta.service_model.service_id.hyphenize()}",
        lambda model, **_: counts.update([f"{service}:{model.name}"]),
    )
    return made


def bare_scan(fleet_url: str) -> float:
    """The floor: page through the same DescribeImages answers with plain boto3 (botocore's own
    parser, amiwatch's retry config) and touch every image."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=fleet_url, config=RETRY)
    started, touched = time.perf_counter(), 0
    for page in ec2.get_paginator("describe_images").paginate(
        Owners=["self"],
        IncludeDeprecated=True,
        IncludeDisabled=True,
        PaginationConfig={"PageSize": 1000},
    ):
        for image in page["Images"]:
            touched += len(image["ImageId"])
    return time.perf_counter() - started


class _GcClock:
    """Total time spent in the cyclic garbage collector (gc.callbacks)."""

    def __init__(self) -> None:
        self.total, self._started = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def _phase_clock(phases: Counter[str]) -> None:
    """Accumulate wall time per AWS-edge method (benchmark diagnostics only)."""
    for owner, name in (
        (BusTopicPublisher, "publish"),
        (DynamoSnapshotStore, "load"),
        (DynamoSnapshotStore, "load_images"),
        (DynamoSnapshotStore, "save_images"),
        (DynamoSnapshotStore, "save_snapshot"),
    ):
        real = getattr(owner, name)

        def timed(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return _real(*a, **k)
            finally:
                phases[_name] += time.perf_counter() - started

        setattr(owner, name, timed)


def bench_watch(
    args: argparse.Namespace, counts: Counter[str]
) -> tuple[Watch, Target, DynamoSnapshotStore, WatchPorts]:
    """The benchmark's watch (every image of the fleet) and its ports on the local endpoints,
    every AWS call counted in `counts`."""
    watch = parse_watch({"name": "bench", "owners": ["self"]})
    target = Target(watch.name, "123456789012", REGION)
    store = DynamoSnapshotStore(_counting("dynamodb", args.moto, counts), "amiwatch", target)
    publisher = BusTopicPublisher(
        _counting("events", args.moto, counts),
        _counting("sns", args.moto, counts),
        {TOPIC: args.topic_arn},
    )
    ec2 = _counting("ec2", args.fleet, counts)
    return watch, target, store, WatchPorts(Ec2Images(ec2), "amiwatch", store, publisher)


def worker(args: argparse.Namespace) -> None:
    phases: Counter[str] = Counter()
    _phase_clock(phases)
    floor = bare_scan(args.fleet) if args.floor is None else args.floor
    counts: Counter[str] = Counter()
    watch, target, store, ports = bench_watch(args, counts)
    now = T0 + timedelta(hours=RUNS.index(args.run), minutes=args.invocation)
    gc_clock = _GcClock()
    started = time.perf_counter()
    if args.limit:  # the simulated Lambda's clock: the time left of `limit` seconds
        left = lambda: args.limit - (time.perf_counter() - started)  # noqa: E731
        memory = LambdaContext.memory_limit_in_mb
        ports = replace(ports, deadline=Deadline.of(left, memory, resident_mb))
    result = run_watch(watch, target, ports, now, owner=f"bench-{args.run}-{args.invocation}",
                       scan_id=args.scan_id)  # fmt: skip
    wall = time.perf_counter() - started
    row = {
        "images": args.images,
        "run": args.run,
        "wall_s": round(wall, 3),
        "engine_ratio": round(wall / floor, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "ddb_items_written": store.stats.items_written,
        "snapshot_read_bytes_per_image": round(store.stats.snapshot_bytes_read / args.images, 2),
        "describe_calls": counts["ec2:DescribeImages"],
        "lookup_calls": result.lookup_calls,
        "reference_calls": result.reference_calls,
        "finding_calls": result.finding_calls,
        "put_events_calls": counts["events:PutEvents"],
        "publish_batch_calls": counts["sns:PublishBatch"],
        "ddb_calls": sum(v for k, v in counts.items() if k.startswith("dynamodb:")),
        "status": result.status,
        "scan": result.scan,
        "bare_scan_s": round(floor, 3),
    }
    diagnostics = {
        "changes": sum(result.changes.values()),
        "vulnerable": result.changes.get("vulnerable", 0),
        "findings_errors": result.finding_errors,
        "bare_scan_s": round(floor, 3),
        "gc_s": round(gc_clock.total, 3),
        "phases_s": {k: round(v, 2) for k, v in sorted(phases.items())},
    }
    print(json.dumps({"row": row, "diagnostics": diagnostics}))


# --- driver ---------------------------------------------------------------------------------


def measure(size: int, env: dict[str, str], runs: tuple[str, ...] = RUNS,
            limit: float = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Each run over a fleet of `size` images; with a `limit`, a run that checkpoints is
    continued in fresh workers until it completes, and reported as one row."""
    rows = []
    with local_endpoints(size, env) as local:
        fleet_url, moto_url, aws = local.fleet_url, local.moto_url, local.aws
        for run in runs:
            change_fleet(fleet_url, run, size)
            command = [sys.executable, "-m", "devtools.bench", "--worker", "--run", run,
                       "--images", str(size), "--fleet", fleet_url, "--moto", moto_url,
                       "--topic-arn", aws.topic_arn, "--limit", str(limit)]  # fmt: skip
            if limit and rows:  # the scale rows' floor is measured once per size
                command += ["--floor", str(rows[0]["row"]["bare_scan_s"])]
            parts = [_work(command, env)]
            _progress(parts)
            while parts[-1]["row"]["status"] == "checkpointed":
                row = parts[-1]["row"]
                more = ["--floor", str(row["bare_scan_s"]), "--invocation", str(len(parts)),
                        "--scan-id", row["scan"]["scanId"]]  # fmt: skip
                parts.append(_work(command + more, env))
                _progress(parts)
            answer = parts[0] if len(parts) == 1 else _joined(parts, limit)
            print(json.dumps(answer["row"]), flush=True)
            rows.append(answer)
    return rows


def _progress(parts: list[dict[str, Any]]) -> None:
    """One line per invocation of a checkpointed run (stderr: stdout holds the rows)."""
    row = parts[-1]["row"]
    if row["status"] == "checkpointed" or len(parts) > 1:
        scan = row.get("scan") or {}
        print(f"  {row['images']} {row['run']} invocation {len(parts)}: {row['status']}, "
              f"{row['wall_s']} s, {scan.get('images', '?')} images so far, "
              f"{row['ddb_items_written']} items written, {row['peak_rss_mb']} MB",
              file=sys.stderr, flush=True)  # fmt: skip


def _work(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _joined(parts: list[dict[str, Any]], limit: float) -> dict[str, Any]:
    """One row for a scan in several invocations: summed, peak RSS the largest of any."""
    rows = [p["row"] for p in parts]
    total = {k: sum(r[k] for r in rows) for k in rows[0] if isinstance(rows[0][k], int)}
    wall = sum(r["wall_s"] for r in rows)
    row = {**rows[-1], **total, "images": rows[0]["images"], "wall_s": round(wall, 3),
           "engine_ratio": round(wall / rows[0]["bare_scan_s"], 3),
           "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
           "snapshot_read_bytes_per_image": round(sum(r["snapshot_read_bytes_per_image"]
                                                      for r in rows), 2),
           "invocations": len(rows), "limit_s": limit,
           "rss_per_invocation_mb": [r["peak_rss_mb"] for r in rows]}  # fmt: skip
    return {"row": row, "diagnostics": {**parts[-1]["diagnostics"], "parts": rows}}


def results_dir(sizes: tuple[int, ...], full: tuple[int, ...]) -> Path:
    """Only a full run replaces the numbers docs/performance.md quotes; quick runs go aside."""
    out = ROOT / "bench" if sizes == full else ROOT / "bench" / "quick"
    out.mkdir(parents=True, exist_ok=True)
    print(f"rows written to {out.relative_to(ROOT)}/", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", choices=RUNS)
    parser.add_argument("--images", type=int)
    parser.add_argument("--fleet")
    parser.add_argument("--moto")
    parser.add_argument("--topic-arn")
    parser.add_argument("--limit", type=float, default=0)
    parser.add_argument("--floor", type=float)
    parser.add_argument("--invocation", type=int, default=0)
    parser.add_argument("--scan-id")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--scale", default=",".join(map(str, SCALE)), help="'' for none")
    parser.add_argument("--scale-limit", type=float, default=SCALE_LIMIT_S)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    env = local_credentials()
    sizes = tuple(map(int, args.sizes.split(","))) if args.sizes else ()
    scale = tuple(map(int, args.scale.split(","))) if args.scale else ()
    answers = [a for size in sizes for a in measure(size, env)]
    scaled: list[dict[str, Any]] = []
    for size in scale:  # bench/scale.json is rewritten as each size completes
        scaled += measure(size, env, SCALE.get(size, SCALE[min(SCALE)]), args.scale_limit)
        where = results_dir(scale, tuple(SCALE))
        (where / "scale.json").write_text(json.dumps([a["row"] for a in scaled], indent=1) + "\n")
    if not answers:
        return
    out = results_dir(sizes, SIZES)
    (out / "results.json").write_text(json.dumps([a["row"] for a in answers], indent=1) + "\n")
    diagnostics = [
        {"images": a["row"]["images"], "run": a["row"]["run"], **a["diagnostics"]} for a in answers
    ]
    (out / "diagnostics.json").write_text(json.dumps(diagnostics, indent=1) + "\n")


if __name__ == "__main__":
    main()
