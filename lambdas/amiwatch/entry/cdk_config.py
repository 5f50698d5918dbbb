"""What every `amiwatch` subcommand shares: the watches of a cdk.json, `--watch`, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from amiwatch.model.errors import ConfigError, check_placement
from amiwatch.model.watch_config import parse_watches
from amiwatch.model.watches import Watch

# 0 done; 1 something to act on (undelivered events, stale targets); 2 a configuration or flag
# error; 3 AWS could not be used as asked.
EXIT_OK, EXIT_UNDELIVERED, EXIT_CONFIG, EXIT_AWS = 0, 1, 2, 3


def amiwatch_object(path: Path) -> dict[str, Any]:
    """The `amiwatch` object of a cdk.json (under context "amiwatch", or a top-level one)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(
            f'{path}: the top level must be an object, as in cdk.json: {{"context": '
            f'{{"amiwatch": {{"watches": [...]}}}}}}'
        )
    if "app" in document:  # a CDK app's cdk.json: what the stack would see
        check_placement(document)
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise ConfigError(f'{path}: "context" must be an object holding "amiwatch"')
    amiwatch = context.get("amiwatch", document.get("amiwatch"))
    if not isinstance(amiwatch, dict):
        raise ConfigError(f'{path}: no "amiwatch" object under "context"')
    return amiwatch


def watches_from_cdk_json(path: Path) -> tuple[Watch, ...]:
    """The watches declared under context "amiwatch" in a cdk.json (or a top-level "amiwatch")."""
    return parse_watches(amiwatch_object(path).get("watches"))


def selected(watches: tuple[Watch, ...], names: list[str] | None) -> tuple[Watch, ...]:
    """The watches named with --watch (all without it); an unknown name is an error."""
    if not names:
        return watches
    known = {w.name for w in watches}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--watch names unknown watches: {', '.join(unknown)}")
    return tuple(w for w in watches if w.name in set(names))


def fail(message: str, code: int) -> int:
    """Say what went wrong in one line on stderr; the exit code."""
    print(f"amiwatch: {message}", file=sys.stderr)
    return code


def read_only_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The flags of the subcommands that read a deployed table: --config, --watch, --table and
    --region (each adds its own)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--config", type=Path, default=Path("cdk.json"), help="cdk.json with the watches")
    add("--watch", action="append", help="only this watch (repeatable)")
    add("--table", required=True, help="DynamoDB table of the snapshot (TableName output)")
    add("--region", help="AWS region of the table (default: the ambient one)")
    return parser


def deployed_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The flags of the subcommands that talk to a deployed stack: --config, --stack, --region
    (each adds its own)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--config", type=Path, default=Path("cdk.json"), help="the cdk.json of the deployment")
    add("--stack", default="AmiWatch", help="the watcher stack's name (default AmiWatch)")
    add("--region", help="the stack's region (default: the ambient one)")
    return parser
