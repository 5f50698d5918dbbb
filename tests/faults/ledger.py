"""The fault suite's ledger: what every fault expected and what subscribers finally received.

Each test settles its own outcome (and fails on anything lost, doubled or false); the session
ends with one summary line. Under pytest-xdist the workers hand their counts to the controller,
which prints the line (hooks in tests/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (ImageId, change)
LEDGER_FIELDS = ("faults", "expected", "delivered", "lost", "duplicated", "unexpected")


@dataclass
class Ledger:
    faults: int = 0
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0

    def settle(self, name: str, expected: set[Key], received: Any) -> None:
        """Count this fault's outcome, then fail the test if anything was lost or doubled."""
        bus, topic = received.ids("bus"), received.ids("topic")
        lost = {k for k in expected if not bus.get(k) or not topic.get(k)}
        doubled = {
            k for k in (*bus, *topic) if len(bus.get(k, ())) > 1 or len(topic.get(k, ())) > 1
        }
        extra = (set(bus) | set(topic)) - expected
        self.faults += 1
        self.expected += len(expected)
        self.delivered += len(expected - lost)
        self.lost += len(lost)
        self.duplicated += len(doubled)
        self.unexpected += len(extra)
        assert not lost, f"{name}: lost {sorted(lost)[:5]}"
        assert not doubled, f"{name}: delivered under several eventIds {sorted(doubled)[:5]}"
        assert not extra, f"{name}: false alarms {sorted(extra)[:5]}"
        assert bus == topic, f"{name}: the two channels disagree"

    def line(self) -> str:
        return (
            f"fault suite: {self.faults} faults tried, {self.expected} changes expected, "
            f"{self.delivered} delivered, {self.lost} lost, {self.duplicated} duplicated, "
            f"{self.unexpected} unexpected"
        )


LEDGER = Ledger()
