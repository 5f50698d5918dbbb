"""The layout shows the architecture, and stays that way: imports point one way (entry points
-> wiring -> adapters and the run -> messages -> judgement -> model), no module imports itself in
a circle, the pure packages never reach boto3 or an adapter, and every module stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambdas" / "amiwatch"
# Each group may import its own and the groups below it, never one above.
RANKS = {"model": 0, "judge": 1, "messages": 2, "run": 3, "aws": 4, "wiring": 5, "entry": 6}
PURE = ("model", "judge", "messages", "run")
SDKS = ("boto3", "botocore", "aws_lambda_powertools", "moto")
MAX_MODULE_LINES, MAX_HANDLER_LINES, MAX_MODULES_PER_FOLDER = 300, 80, 12


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph(root: Path, prefix: str) -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    return {name: {i for i in imports(path) if i in known and i != name}
            for name, path in files.items() if name.startswith(prefix)}  # fmt: skip


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def group(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in RANKS else None


def test_no_circular_imports_in_the_runtime_package_or_the_devtools():
    runtime = graph(ROOT / "lambdas", "amiwatch")
    tools = graph(ROOT, "devtools")

    assert cycles(runtime) == []
    assert cycles(tools) == []


def test_imports_point_one_way_down_the_layers():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph(ROOT / "lambdas", "amiwatch").items()
        for target in targets
        if group(module) and group(target) and RANKS[group(target)] > RANKS[group(module)]
    )  # fmt: skip

    assert upward == []


@pytest.mark.parametrize("pure", PURE)
def test_pure_packages_import_no_sdk_and_no_adapter(pure):
    offending = sorted(
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / pure).rglob("*.py")
        for name in imports(path)
        if name.split(".")[0] in SDKS
    )  # fmt: skip

    assert offending == []


def test_the_aws_sdk_is_imported_only_by_the_adapters_the_wiring_and_the_entry_points():
    importers = {
        group(module_name(path, ROOT / "lambdas"))
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] in ("boto3", "botocore") for name in imports(path))
    }

    assert importers <= {"aws", "wiring", "entry"}


def python_modules() -> list[Path]:
    return [*PACKAGE.rglob("*.py"), *(ROOT / "infra").rglob("*.py"),
            *(ROOT / "devtools").rglob("*.py"), ROOT / "app.py"]  # fmt: skip


def test_no_module_is_over_300_lines_and_the_handler_stays_under_80():
    lengths = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in python_modules()}

    assert {p: n for p, n in lengths.items() if n > MAX_MODULE_LINES} == {}
    assert lengths[Path("lambdas/amiwatch/entry/handler.py")] < MAX_HANDLER_LINES


def test_no_package_folder_holds_more_than_12_modules():
    folders = [PACKAGE, *PACKAGE.iterdir(), ROOT / "infra", *(ROOT / "infra").iterdir(),
               ROOT / "devtools"]  # fmt: skip
    crowded = {
        folder.relative_to(ROOT).as_posix(): count
        for folder in folders
        if folder.is_dir() and (folder / "__init__.py").exists()
        and (count := len([p for p in folder.glob("*.py") if p.name != "__init__.py"]))
        > MAX_MODULES_PER_FOLDER
    }  # fmt: skip

    assert crowded == {}


def test_each_runtime_module_has_its_unit_tests_where_its_path_says():
    # tests/unit/<group>/ mirrors lambdas/amiwatch/<group>/: a group with tests has a folder.
    groups_with_tests = {p.name for p in (ROOT / "tests" / "unit").iterdir()
                         if p.is_dir() and list(p.glob("test_*.py"))}  # fmt: skip

    assert groups_with_tests <= set(RANKS)
    assert set(RANKS) - groups_with_tests == set()


def test_a_quick_benchmark_never_overwrites_the_recorded_numbers():
    from devtools.bench import SIZES, results_dir
    from devtools.bench_targets import RECORDED_SIZES

    assert results_dir((1000,), SIZES) == ROOT / "bench" / "quick"
    assert results_dir((1000, 10000), RECORDED_SIZES) == ROOT / "bench" / "quick"
    assert (
        results_dir(SIZES, SIZES) == results_dir(RECORDED_SIZES, RECORDED_SIZES) == ROOT / "bench"
    )
