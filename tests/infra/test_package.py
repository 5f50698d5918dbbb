"""`pip install .` gives an `amiwatch` command and the runtime dependencies we pin;
`pip install "amiwatch[cdk]"` the constructs, for a CDK app of one's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.runtime import pinned_versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution `pip install .` builds, from a copy (setuptools writes build/ and
    *.egg-info next to the sources)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "src"
    for folder in ("lambdas", "infra"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns(
            "__pycache__", "*.egg-info"))  # fmt: skip
    for name in ("pyproject.toml", "requirements.txt"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(tmp_path), str(source)],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    [built] = tmp_path.glob("amiwatch-*.whl")
    return built


def test_the_wheel_holds_the_package_the_command_and_the_pinned_dependencies(wheel):
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


def test_the_wheel_holds_every_package_and_the_constructs_as_amiwatch_cdk(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    packages = [*(ROOT / "lambdas").glob("amiwatch/**/__init__.py"),
                *(ROOT / "infra").glob("**/__init__.py")]  # fmt: skip

    for init in packages:
        relative = init.relative_to(ROOT / "lambdas" if "lambdas" in init.parts else ROOT)
        assert str(relative).replace("infra/", "amiwatch_cdk/", 1) in names, relative
    dev_pins = pinned_versions(ROOT / "requirements-dev.txt")
    for name in ("aws-cdk-lib", "constructs", "cdk-nag"):
        assert f'Requires-Dist: {name}=={dev_pins[name]}; extra == "cdk"' in metadata


THIRD_PARTY_APP = """
import aws_cdk as cdk
from amiwatch_cdk import AmiWatcher, AmiWatchMemberRole, ConfigError, apply_checks

app = cdk.App(outdir="cdk.out")
platform = cdk.Stack(app, "PlatformTooling")
watcher = AmiWatcher(platform, "AmiWatch", config={
    "watches": [{"name": "golden", "owners": ["self"], "filters": {"tag:team": ["platform"]}}],
    "emails": ["platform@example.com"],
})
member = cdk.Stack(app, "MemberAccount", synthesizer=cdk.BootstraplessSynthesizer())
AmiWatchMemberRole(member, "AmiWatchMember", watcher_account="111122223333",
                   external_id="shared-secret-1")
try:
    AmiWatcher(cdk.Stack(cdk.App(), "Careless"), "AmiWatch", config={"schedul": "x"})
except ConfigError as exc:
    print("refused:", exc)
apply_checks(app)
app.synth()
"""


def test_a_third_party_cdk_app_composes_the_installed_constructs(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, timeout=120, capture_output=True)  # fmt: skip
    app_dir = tmp_path / "their-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(THIRD_PARTY_APP)
    # Their environment: the installed wheel first, CDK from this virtualenv, not this checkout.
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}

    script = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open('app.py').read())"
    run = subprocess.run([sys.executable, "-I", "-c", script], cwd=app_dir, env=env,
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip

    assert run.returncode == 0, run.stderr[-3000:]
    assert 'refused: amiwatch: unknown key "schedul" (did you mean "schedule"?)' in run.stdout
    template = json.loads((app_dir / "cdk.out" / "PlatformTooling.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::SNS::Topic"} <= kinds
    [asset] = [p for p in (app_dir / "cdk.out").glob("asset.*") if (p / "watches.json").exists()]
    assert (asset / "amiwatch" / "entry" / "handler.py").read_text() == (
        target / "amiwatch" / "entry" / "handler.py"
    ).read_text()
    member = json.loads((app_dir / "cdk.out" / "MemberAccount.template.json").read_text())
    assert [r["Type"] for r in member["Resources"].values()] == ["AWS::IAM::Role"]
    assert "infra" not in {p.name for p in target.iterdir()}
    assert not (app_dir / "infra").exists()


def test_the_installed_command_runs():
    command = Path(sys.prefix) / "bin" / "amiwatch"  # installed by `make venv` (pip install -e .)

    shown = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: amiwatch ")
