"""`make demo`, the first command of the README, runs and tells the truth in one screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_every_change_and_a_deprecation_in_use_and_one_not():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"}
    demo = subprocess.run(
        [sys.executable, "-m", "devtools.demo"], capture_output=True, text=True, env=env,
        cwd=ROOT, timeout=120, check=True,
    )  # fmt: skip
    out = demo.stdout.splitlines()

    assert len(out) < 100
    rows = {line.split()[0]: line for line in out if line.split()[:2][1:] == ["golden"]}
    assert set(rows) == {"new", "failed", "deprecated", "deregistered", "disabled", "updated",
                         "left-watch"}  # fmt: skip
    assert "available" not in rows["deregistered"] and "deregistered" in rows["deregistered"]
    # The Public update reaches chat (updated:Public): the sentence says what did not.
    assert any("Not left-watch, new: chatChanges selects" in line for line in out)
    # ... and the README says the same of it (it once said `updated` did not reach chat).
    shows = (ROOT / "README.md").read_text().split("## What `make demo` shows", 1)[1]
    assert "why `new` and `left-watch` do not reach chat" in " ".join(shows.split())
    assert out[-2].startswith("Next: scan your account, read-only: .venv/bin/amiwatch")
    assert out[-1].startswith("Deploy: docs/quickstart.md")
    assert sum(line.startswith("  | ") for line in out) < 45  # one chat and one email in full
    assert any(line.startswith("  | *Usage:* Still used by 1 instance and 2 launch templates")
               for line in out)  # fmt: skip
    assert any(line.startswith("  | Not used by any instance") for line in out)
    third = next(line for line in out if line.startswith("third run: "))
    assert '"changes": {}' in third
    assert any(line.strip() == "EventBridge: AMI Recommended, parameter version 192 -> 193"
               for line in out)  # fmt: skip
    assert any("recommended AMI is now" in line and "(was ami-" in line for line in out)
    # Allowed AMIs hide a vendor image still in use: disallowed, not a false "deregistered".
    assert any('changes {"disallowed": 1}, Allowed AMIs enabled' in line for line in out)
    disallowed = "EventBridge: AMI Disallowed, reason allowed-amis, ImageAllowed False"
    assert any(line.strip() == disallowed for line in out)
    assert any("WARNING: AMI disallowed: cis-hardened-rhel-9-v4" in line for line in out)
    assert any("*Usage:* Still used by 2 instances" in line for line in out)
    # Inspector: a vulnerable AMI in use, with what to move to.
    assert any(line.strip() == "EventBridge: AMI Vulnerable, severity critical, usage total 1"
               for line in out)  # fmt: skip
    assert any("CRITICAL: AMI vulnerable: golden-base" in line for line in out)
    assert any(line.strip().startswith("Move to golden-2026-12") for line in out)
