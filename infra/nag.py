"""cdk-nag 3 wiring: the AwsSolutions pack as a CDK validation plugin, and acknowledgments."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def apply_checks(app: App) -> None:
    """Run AwsSolutions on every synth; an unacknowledged finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge a finding on `scope` (and below) with the reason a reviewer will read."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
