"""What the deployed Lambda runs: the libraries the tests ran, pinned in requirements.txt.

- The AWS SDK (boto3, botocore and what they import) is copied into the asset from the synth's
  own environment, after checking it is the pinned version, so the function calls the EC2 API
  model the tests used and not whatever older botocore the Lambda runtime bundles. botocore's
  data is pruned to the services amiwatch creates clients for.
- Powertools comes from AWS's public layer; its ARN is resolved at deploy time from Powertools'
  public SSM parameter for the pinned version, so synth needs no lookup and no network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ILocalBundling

import amiwatch
from amiwatch.aws.clients import RUNTIME_SERVICES
from amiwatch.model import defaults
from amiwatch.model.errors import ConfigError

# The runtime package as imported: lambdas/amiwatch in this repository, site-packages/amiwatch
# when these constructs come from `pip install "amiwatch[cdk]"` (the asset is the same code).
PACKAGE_DIR = Path(amiwatch.__file__).resolve().parent
LAMBDAS_DIR = PACKAGE_DIR.parent
WATCHES_FILE = "watches.json"
# The pins: requirements.txt in a checkout; the installed distribution's own requirements
# (generated from that file) in a wheel.
REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"
PINNED = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)")
# The SDK and everything it imports at run time (all pure Python), as import names.
SDK_MODULES = {
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "python-dateutil": "dateutil",
    "urllib3": "urllib3",
    "six": "six",
}
# The models the asset ships: what amiwatch creates clients for, and X-Ray, whose SDK (under
# Powertools' Tracer) creates a client for its sampling rules at import.
BUNDLED_SERVICES = RUNTIME_SERVICES | {"xray"}
LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE = defaults.LAMBDA_RUNTIME, defaults.LAMBDA_ARCHITECTURE


def pinned_versions(path: Path = REQUIREMENTS) -> dict[str, str]:
    """`name==version` lines of a requirements file (extras dropped), by lower-case name; without
    the file, the installed amiwatch distribution's requirements."""
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = [r.split(";", 1)[0] for r in importlib.metadata.requires("amiwatch") or []]
    versions = {}
    for line in lines:
        match = PINNED.match(line.strip())
        if match:
            versions[match.group(1).lower()] = match.group(3)
    return versions


def powertools_parameter(version: str | None = None) -> str:
    """Powertools' public SSM parameter holding the layer ARN of that version for our runtime."""
    return defaults.powertools_parameter(version or pinned_versions()["aws-lambda-powertools"])


def bundle_sdk(out: Path) -> None:
    """Copy the pinned SDK into the asset; refuse an environment with other versions."""
    pins = pinned_versions()
    for distribution in ("boto3", "botocore"):
        installed = importlib.metadata.version(distribution)
        if installed != pins[distribution]:
            raise ConfigError(
                f"{distribution} {installed} is installed but requirements.txt pins "
                f"{pins[distribution]}: synthesize from the project's virtualenv (make venv)"
            )
    for module in SDK_MODULES.values():
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ConfigError(f"cannot bundle {module}: it is not installed")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            if module == "botocore":
                ignore = _botocore_data_filter(origin.parent / "data")
            shutil.copytree(origin.parent, out / module, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, out / origin.name)


def _botocore_data_filter(data: Path):  # type: ignore[no-untyped-def]
    """Keep botocore's top-level data files and the models of the services amiwatch uses."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == data:
            skipped |= {n for n in names if (data / n).is_dir() and n not in BUNDLED_SERVICES}
        return skipped

    return ignore


@jsii.implements(ILocalBundling)
class LambdaSources:
    """Local bundling without Docker or network: the pinned SDK, our package, the watch list."""

    def __init__(self, watches_document: str) -> None:
        self.watches_document = watches_document

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        bundle_sdk(out)
        shutil.copytree(
            PACKAGE_DIR,
            out / "amiwatch",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        (out / WATCHES_FILE).write_text(self.watches_document, encoding="utf-8")
        return True
