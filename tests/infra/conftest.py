"""The infra tests share one in-process synth per session (tests/conftest.py)."""

from __future__ import annotations

from tests.synth import TEST_CONTEXT, Synthesized, synthesize

__all__ = ["TEST_CONTEXT", "Synthesized", "synthesize"]
