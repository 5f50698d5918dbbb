"""Every default a user relies on, in one place: cdk.json, the Lambda and the CLI read them here."""

from __future__ import annotations

# The stack (cdk.json "amiwatch" keys).
SCHEDULE = "rate(1 hour)"
BUS_NAME = "amiwatch"
ARCHIVE_RETENTION_DAYS = 365
LOG_RETENTION_DAYS = 90
MEMORY_MB = 1024
TIMEOUT_SECONDS = 900
CHAT_CHANGES = (
    "failed",
    "deregistered",
    "unavailable",
    "disallowed",
    "vulnerable",
    "deprecated",
    "deprecation-imminent",
    "disabled",
    "updated:Public",
    "recommended",
    "forecast",
)
DIGEST_THRESHOLD = 20
FORECAST_SCHEDULE = "cron(0 8 ? * MON *)"  # weekly: Mondays 08:00 UTC
FORECAST_DAYS = 30  # how far ahead the forecast looks
FIX_GRACE_DAYS = 14  # a fix available longer than this is overdue
FORECAST_QUIET = True  # nothing due: nothing sent
MAX_CONCURRENCY_DEFAULT = 10  # default concurrency: the targets (at least 4), at most this

# A watch.
IGNORE_FIELDS = ("LastLaunchedTime",)
VULNERABLE_AT = "high"  # ScanResults severity (EC2's SeverityLabel) that makes an AMI vulnerable
BASELINE = "silent"
MEMBER_ROLE = "AmiWatchMember"

# The Lambda.
LEASE_SECONDS = 960  # the Lambda's 15-minute ceiling plus a minute
STALE_AFTER_SECONDS = 2 * 3600  # two periods of the default schedule
# The orders an invocation may carry (amiwatch.wiring.orders); the stack lists them in the
# function's AMIWATCH_ORDERS, so `amiwatch doctor` knows before invoking what a deployed
# version understands.
ORDERS = ("dispatch", "forecast", "doctor")
LAMBDA_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURE = "arm64"


def powertools_parameter(version: str) -> str:
    """Powertools' public SSM parameter holding the layer ARN of `version` for our runtime."""
    return f"/aws/service/powertools/python/{LAMBDA_ARCHITECTURE}/{LAMBDA_RUNTIME}/{version}"
