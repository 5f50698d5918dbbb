"""`make bench-profile`: where an unchanged run's time goes, per image.

One process: the fleet double serves EC2 on 127.0.0.1, moto (in-process) the table. A baseline,
then a bare boto3 scan of the same pages (the floor) and an unchanged run timed without the
profiler (the ratio), then the same unchanged run under cProfile, its own time grouped by who
spends it. cProfile slows pure-Python code more than C, so the groups are shares, not seconds
to subtract from the ratio. Prints JSON and writes bench/profile.json (bench/quick/ with
--images).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[1]
IMAGES = 20_000
GROUPS = (  # (substring of the code's file path, group), first match wins
    ("/botocore/parsers", "botocore: XML parsing"),
    ("/xml/etree", "botocore: XML parsing"),
    ("/botocore/", "botocore: requests, signing, model"),
    ("/boto3/", "botocore: requests, signing, model"),
    ("/urllib3/", "HTTP"),
    ("/http/", "HTTP"),
    ("/moto/", "moto (the table, in-process)"),
    ("/werkzeug/", "moto (the table, in-process)"),
    ("/responses/", "moto (the table, in-process)"),
    ("amiwatch/aws/parsing", "amiwatch: DescribeImages parsing (aws.parsing)"),
    ("amiwatch/model/records", "amiwatch: record projection and digest"),
    ("amiwatch/model/snapshot", "amiwatch: snapshot decode"),
    ("amiwatch/run/packed", "amiwatch: snapshot decode"),
    ("amiwatch/judge/triage", "amiwatch: triage"),
    ("amiwatch/", "amiwatch: the rest"),
)
# C functions (no file) are charged to the group of their caller: ElementTree's C parser to
# botocore's parsing, json to whoever decodes.
C_FUNCTION = "~"


def group_of(path: str) -> str:
    for part, group in GROUPS:
        if part in path:
            return group
    return "other"


def grouped(stats: pstats.Stats) -> dict[str, float]:
    """Own time per group; a C function's own time goes to its callers' groups, by share."""
    times: dict[str, float] = {}
    for (path, _, _), (_, _, own, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path != C_FUNCTION:
            times[group_of(path)] = times.get(group_of(path), 0.0) + own
            continue
        total = sum(c[2] for c in callers.values()) or 1.0
        for (caller_path, _, _), caller in callers.items():
            group = group_of(caller_path) if caller_path != C_FUNCTION else "other"
            times[group] = times.get(group, 0.0) + own * caller[2] / total
    return times


def _timed(step: Callable[[], None]) -> float:
    # The heap here holds moto's table: freeze it, as run_watch does, or the bare scan would pay
    # for collections a fresh process (the bench's floor) never makes.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    step()
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, help=f"fleet size (default {IMAGES:,})")
    args = parser.parse_args()
    images = args.images or IMAGES
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from amiwatch.aws.clients import client  # noqa: PLC0415
    from amiwatch.aws.scan import Ec2Images  # noqa: PLC0415
    from amiwatch.model.contract import Target  # noqa: PLC0415
    from amiwatch.model.watch_config import parse_watch  # noqa: PLC0415
    from amiwatch.run.pipeline import run_watch  # noqa: PLC0415
    from devtools.fleet import serve  # noqa: PLC0415
    from devtools.local_aws import LocalAws  # noqa: PLC0415

    server, state = serve(images)
    state.warm()
    os.environ["AWS_ENDPOINT_URL_EC2"] = f"http://127.0.0.1:{server.server_address[1]}"
    watch = parse_watch({"name": "fleet", "owners": ["self"]})
    target = Target(watch.name, ACCOUNT, REGION)
    with mock_aws():
        aws = LocalAws.provision(subscribers=False)
        run_watch(watch, target, aws.watch_ports(target), datetime.now(UTC), owner="baseline")
        # The floor is plain boto3: botocore's own parser, not amiwatch's (aws.parsing).
        pages = boto3.client("ec2", region_name=REGION).get_paginator("describe_images")

        def bare_scan() -> None:
            for _ in pages.paginate(Owners=["self"], PaginationConfig={"PageSize": 1000}):
                pass

        def ports() -> Any:  # the watcher's own EC2 client (its DescribeImages parser)
            return replace(aws.watch_ports(target), images=Ec2Images(client("ec2", region=REGION)))

        def unchanged_run() -> None:
            run_watch(watch, target, ports(), datetime.now(UTC), owner="timed")

        # Best of two each: the baseline's garbage must not land on either.
        bare, unchanged = (
            min(_timed(step) for _ in range(2)) for step in (bare_scan, unchanged_run)
        )
        profile = cProfile.Profile()
        profile.enable()
        run_watch(watch, target, ports(), datetime.now(UTC), owner="profiled")
        profile.disable()
    server.shutdown()
    times = grouped(pstats.Stats(profile))
    total = sum(times.values())
    row = {
        "images": images, "bare_scan_s": round(bare, 3), "unchanged_s": round(unchanged, 3),
        "engine_ratio": round(unchanged / bare, 3),
        "profiled_share_pct": {g: round(100 * t / total, 1)
                               for g, t in sorted(times.items(), key=lambda kv: -kv[1])},
    }  # fmt: skip
    print(json.dumps(row, indent=1))
    out = ROOT / "bench" / ("quick" if args.images else "") / "profile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
