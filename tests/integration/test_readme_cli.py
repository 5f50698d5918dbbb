"""README's CLI section, run exactly as written, against a moto server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from devtools.local_aws import REGION, LocalAws

from .conftest import register

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Run it locally", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the CLI section shows its commands in a sh block"
    return [line for line in block.group(1).splitlines() if line.startswith("amiwatch ")]


def test_the_readme_commands_run_as_written(moto_endpoint):
    aws = LocalAws.provision(endpoint_url=moto_endpoint, subscribers=True)
    images = [register(aws, f"golden-{n}") for n in ("a", "b")]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "TABLE": aws.table_name,
        "TOPIC_ARN": aws.topic_arn,
        "BUS_NAME": aws.bus_name,
    }
    commands = readme_commands()
    assert len(commands) == 5

    outputs = []
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout)

    listed, diffed, real, status, forecast = outputs
    assert all(image in listed and image in diffed for image in images)
    assert "recorded as the baseline" in listed
    assert status.splitlines()[0].split() == ["state", "watch", "account", "region", "last",
                                              "success", "images", "last", "changes", "scan",
                                              "in", "progress"]  # fmt: skip
    assert status.splitlines()[1].startswith("ok ")
    assert forecast.strip() == "nothing in use is due"  # exit 0: nothing is
    summaries = [json.loads(out.splitlines()[-1]) for out in outputs[:3]]
    assert [s["status"] for s in summaries] == ["dry-run", "dry-run", "ok"]
    assert summaries[2]["baseline"] is True and real.count("\n") >= 2
