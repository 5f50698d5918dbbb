"""The layout stays readable: small modules, a thin handler, boto3 only at the edges."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 300
MAX_HANDLER_LINES = 80


def modules() -> list[Path]:
    return [*ROOT.glob("lambdas/amiwatch/**/*.py"), *ROOT.glob("infra/*.py")]


def test_no_module_is_over_300_lines_and_the_handler_stays_under_80():
    lengths = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in modules()}

    assert {p: n for p, n in lengths.items() if n > MAX_MODULE_LINES} == {}
    assert lengths[Path("lambdas/amiwatch/handler.py")] < MAX_HANDLER_LINES


def test_only_the_aws_edges_import_boto3():
    importers = {
        p.relative_to(ROOT / "lambdas" / "amiwatch").as_posix()
        for p in ROOT.glob("lambdas/amiwatch/**/*.py")
        if re.search(r"^\s*(import boto3|from boto3|from botocore)", p.read_text(), re.M)
    }

    # observability only reads the SDK's version for the cold-start line.
    assert {p for p in importers if not p.startswith("aws/")} == {"observability.py"}


def test_a_quick_benchmark_never_overwrites_the_recorded_numbers():
    from devtools.bench import SIZES, results_dir
    from devtools.bench_targets import RECORDED_SIZES

    assert results_dir((1000,), SIZES) == ROOT / "bench" / "quick"
    assert results_dir((1000, 10000), RECORDED_SIZES) == ROOT / "bench" / "quick"
    assert (
        results_dir(SIZES, SIZES) == results_dir(RECORDED_SIZES, RECORDED_SIZES) == ROOT / "bench"
    )
