"""Reading watches from their cdk.json form, the same way at `cdk synth` and at Lambda start.

Every error names the watch and the field at fault, e.g.
`watch "golden": unknown filter "nmae" (did you mean "name"?)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from amiwatch.model import defaults
from amiwatch.model.account_config import ACCOUNT_ID, parse_accounts
from amiwatch.model.errors import ConfigError, suggest
from amiwatch.model.filters import DESCRIBE_IMAGES_FILTERS
from amiwatch.model.records import CANONICAL_FIELDS, SEVERITY_LABELS
from amiwatch.model.watches import SELF, Watch

WATCH_NAME = re.compile(r"[a-z0-9-]{1,64}", re.ASCII)


IMAGE_ID = re.compile(r"ami-[0-9a-f]{8,17}", re.ASCII)

OWNER_ALIASES = frozenset({"self", "amazon", "aws-marketplace", "aws-backup-vault"})

EXECUTABLE_USER_ALIASES = frozenset({"self", "all"})

BASELINE_MODES = ("silent", "events")

WATCH_KEYS = (
    "name",
    "owners",
    "executableUsers",
    "imageIds",
    "filters",
    "includeDeprecated",
    "includeDisabled",
    "deprecationWarningDays",
    "vulnerableAt",
    "ignoreFields",
    "baseline",
    "regions",
    "accounts",
    "parameters",
    "refreshOn",
)

MAX_WARNING_DAYS = 3650
MAX_PARAMETERS = 50  # names or prefixes per watch
PUBLIC_PARAMETERS = "/aws/service/"  # the only parameters the watcher may read (least privilege)
MAX_FILTER_VALUES = 200  # EC2: "the maximum number of filter values specified on a single call"

REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)

SNS_TOPIC_ARN = re.compile(
    r"arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:[\w-]{1,256}", re.ASCII
)


class _WatchReader:
    """Reads one raw watch object, raising ConfigError that names the watch and field."""

    def __init__(self, raw: Mapping[str, Any], position: int) -> None:
        self.raw = raw
        name = raw.get("name")
        self.label = f'watch "{name}"' if isinstance(name, str) else f"watches[{position}]"

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: {message}")

    def check_keys(self) -> None:
        for key in self.raw:
            if key not in WATCH_KEYS:
                raise self.fail(f'unknown key "{key}"{suggest(key, WATCH_KEYS)}')

    def string_list(
        self, key: str, pattern: re.Pattern[str], aliases: frozenset[str]
    ) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f'"{key}" must be a list of strings')
        if key in self.raw and not value:
            raise self.fail(f'"{key}" must not be an empty list (leave it out instead)')
        for item in value:
            if not isinstance(item, str) or not (item in aliases or pattern.fullmatch(item)):
                allowed = ", ".join(sorted(aliases)) if aliases else "none"
                raise self.fail(
                    f'"{key}" has invalid value {json.dumps(item)} (aliases: {allowed})'
                )
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f'"{key}" must be true or false, got {json.dumps(value)}')
        return value

    def filters(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        value = self.raw.get("filters", {})
        if not isinstance(value, dict):
            raise self.fail('"filters" must be an object of filter name -> list of values')
        parsed = []
        for name, values in value.items():
            if name.startswith("tag:"):
                if len(name) == len("tag:"):
                    raise self.fail('filter "tag:" needs a tag key, e.g. "tag:team"')
            elif name not in DESCRIBE_IMAGES_FILTERS:
                hint = suggest(name, DESCRIBE_IMAGES_FILTERS)
                raise self.fail(f'unknown filter "{name}"{hint}')
            if not isinstance(values, list) or not values:
                raise self.fail(f'filter "{name}" needs a non-empty list of values')
            if not all(isinstance(v, str) and v for v in values):
                raise self.fail(f'filter "{name}" values must be non-empty strings')
            parsed.append((name, tuple(values)))
        count = sum(len(v) for _, v in parsed)
        if count > MAX_FILTER_VALUES:
            raise self.fail(
                f'"filters" has {count} values in all; EC2 accepts at most {MAX_FILTER_VALUES} '
                "filter values in one DescribeImages call (split the watch)"
            )
        return tuple(parsed)

    def warning_days(self) -> int:
        value = self.raw.get("deprecationWarningDays", 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                f'"deprecationWarningDays" must be a whole number, got {json.dumps(value)}'
            )
        if not 0 <= value <= MAX_WARNING_DAYS:
            raise self.fail(f'"deprecationWarningDays" must be 0..{MAX_WARNING_DAYS}, got {value}')
        return value

    def severity(self) -> str:
        """`vulnerableAt`: one of EC2's SeverityLabel values (any case, kept as EC2 spells it)."""
        value = self.raw.get("vulnerableAt", defaults.VULNERABLE_AT)
        label = value.lower() if isinstance(value, str) else value
        if label not in SEVERITY_LABELS:
            hint = suggest(str(label), SEVERITY_LABELS) or f" (one of {', '.join(SEVERITY_LABELS)})"
            raise self.fail(f'"vulnerableAt" {json.dumps(value)} is not a severity{hint}')
        return str(label)

    def ignore_fields(self) -> frozenset[str]:
        value = self.raw.get("ignoreFields", list(defaults.IGNORE_FIELDS))
        if not isinstance(value, list):
            raise self.fail('"ignoreFields" must be a list of DescribeImages field names')
        for item in value:
            if item not in CANONICAL_FIELDS or item == "ImageId":
                hint = suggest(str(item), CANONICAL_FIELDS)
                raise self.fail(f'"ignoreFields" has unknown field {json.dumps(item)}{hint}')
        return frozenset(value)

    def regions(self) -> tuple[str, ...]:
        value = self.raw.get("regions", [])
        if not isinstance(value, list) or ("regions" in self.raw and not value):
            raise self.fail('"regions" must be a non-empty list of region names')
        for region in value:
            if not isinstance(region, str) or not REGION_NAME.fullmatch(region):
                raise self.fail(f'"regions" has invalid region name {json.dumps(region)}')
        if len(set(value)) != len(value):
            raise self.fail('"regions" lists a region twice')
        return tuple(value)

    def parameters(self) -> tuple[str, ...]:
        value = self.raw.get("parameters", [])
        if not isinstance(value, list) or ("parameters" in self.raw and not value):
            raise self.fail('"parameters" must be a non-empty list of parameter names or paths')
        if len(value) > MAX_PARAMETERS:
            raise self.fail(f'"parameters" lists {len(value)}; at most {MAX_PARAMETERS} a watch')
        for name in value:
            if not isinstance(name, str) or not name.startswith(PUBLIC_PARAMETERS):
                raise self.fail(
                    f'"parameters" has {json.dumps(name)}: AWS public parameters only, starting '
                    f'with "{PUBLIC_PARAMETERS}"'
                )
            if any(c in name for c in "*?") or "//" in name or any(c.isspace() for c in name):
                raise self.fail(
                    f'"parameters" has {json.dumps(name)}: an exact name, or a path ending in '
                    '"/" (no wildcards)'
                )
        if len(set(value)) != len(value):
            raise self.fail('"parameters" lists a name twice')
        return tuple(value)

    def baseline(self) -> str:
        value = self.raw.get("baseline", defaults.BASELINE)
        if value not in BASELINE_MODES:
            raise self.fail(f'"baseline" must be "silent" or "events", got {json.dumps(value)}')
        return str(value)


def parse_watch(raw: Any, position: int = 0) -> Watch:
    """Validate one raw watch object (cdk.json form) and return the Watch."""
    if not isinstance(raw, dict):
        raise ConfigError(f"watches[{position}]: must be an object, got {json.dumps(raw)}")
    reader = _WatchReader(raw, position)
    reader.check_keys()
    name = raw.get("name")
    if not isinstance(name, str) or not WATCH_NAME.fullmatch(name):
        raise reader.fail(f'"name" must match [a-z0-9-]{{1,64}}, got {json.dumps(name)}')
    accounts, organization = parse_accounts(raw.get("accounts", [SELF]), reader.fail)
    watch = Watch(
        name=name,
        owners=reader.string_list("owners", ACCOUNT_ID, OWNER_ALIASES),
        executable_users=reader.string_list("executableUsers", ACCOUNT_ID, EXECUTABLE_USER_ALIASES),
        image_ids=reader.string_list("imageIds", IMAGE_ID, frozenset()),
        filters=reader.filters(),
        include_deprecated=reader.flag("includeDeprecated", True),
        include_disabled=reader.flag("includeDisabled", True),
        deprecation_warning_days=reader.warning_days(),
        vulnerable_at=reader.severity(),
        ignore_fields=reader.ignore_fields(),
        baseline=reader.baseline(),
        regions=reader.regions(),
        accounts=accounts,
        organization_accounts=organization,
        parameters=reader.parameters(),
        refresh_on=reader.string_list("refreshOn", SNS_TOPIC_ARN, frozenset()),
    )
    selectors = watch.owners or watch.executable_users or watch.image_ids or watch.filters
    if watch.parameters:
        if selectors:
            raise reader.fail(
                '"parameters" names the images itself: it cannot be combined with owners, '
                "executableUsers, imageIds or filters (make two watches)"
            )
        if any(not a.is_self for a in watch.accounts) or watch.organization_accounts:
            raise reader.fail(
                '"parameters" are public and the same in every account: use "regions", not '
                "member accounts"
            )
    elif not selectors:
        raise reader.fail(
            "has no scope: set at least one of owners, executableUsers, imageIds, filters, "
            "parameters"
        )
    return watch


def parse_watches(raw: Any) -> tuple[Watch, ...]:
    """Validate the `watches` list: each watch, and that names are unique."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError('"watches" must be a non-empty list of watch objects')
    watches = tuple(parse_watch(item, i) for i, item in enumerate(raw))
    seen: set[str] = set()
    for watch in watches:
        if watch.name in seen:
            raise ConfigError(f'watch "{watch.name}": duplicate name')
        seen.add(watch.name)
    return watches


def load_watches_file(path: str | Path) -> tuple[Watch, ...]:
    """Read watches from a JSON file holding `{"watches": [...]}` (the Lambda's config file)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read watch config {path}: {exc}") from exc
    if not isinstance(document, dict) or "watches" not in document:
        raise ConfigError(f'{path}: expected an object with a "watches" list')
    return parse_watches(document["watches"])
