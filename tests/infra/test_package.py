"""`pip install .` gives an `amiwatch` command and the runtime dependencies we pin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from infra.runtime import pinned_versions

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_package_the_command_and_the_pinned_dependencies(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "lambdas", source / "lambdas", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info"))  # fmt: skip
    for name in ("pyproject.toml", "requirements.txt"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(tmp_path), str(source)],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("amiwatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()

    assert "amiwatch/entry/handler.py" in names and "amiwatch/aws/scan.py" in names
    assert not [n for n in names if n.startswith(("infra/", "tests/", "devtools/"))]
    assert "amiwatch = amiwatch.entry.cli:run" in entry_points
    requires = {line.split(": ", 1)[1] for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")}  # fmt: skip
    pins = pinned_versions()
    assert f"boto3=={pins['boto3']}" in requires and f"botocore=={pins['botocore']}" in requires
    assert any(r.startswith("aws-lambda-powertools[tracer]==") for r in requires)


def test_the_installed_command_runs():
    command = Path(sys.prefix) / "bin" / "amiwatch"  # installed by `make venv` (pip install -e .)

    shown = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: amiwatch ")
