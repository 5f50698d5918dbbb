"""`make demo`, the first command of the README, runs and tells the truth in one screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_every_change_once_and_one_message_of_each_kind_in_full():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"}
    demo = subprocess.run(
        [sys.executable, "-m", "devtools.demo"], capture_output=True, text=True, env=env,
        cwd=ROOT, timeout=120, check=True,
    )  # fmt: skip
    out = demo.stdout.splitlines()

    assert len(out) < 90
    rows = {line.split()[0]: line for line in out if line.split()[:2][1:] == ["golden"]}
    assert set(rows) == {"new", "failed", "deprecated", "deregistered", "disabled", "updated",
                         "left-watch"}  # fmt: skip
    assert "available" not in rows["deregistered"] and "not visible" in rows["deregistered"]
    assert any("Not left-watch, new, updated: chatChanges selects" in line for line in out)
    assert sum(line.startswith("  | ") for line in out) < 40  # one chat and one email in full
    assert out[-2].startswith('third run: {"watch": "golden"') and '"changes": {}' in out[-2]
