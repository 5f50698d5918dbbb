"""Configuration mistakes: the one error type shared by synth, the Lambda and the CLI, and the
"did you mean" every message offers when a known word is close."""

from __future__ import annotations

import difflib
from collections.abc import Collection


class ConfigError(ValueError):
    """A configuration mistake, with a message that names the watch (or setting) and the field."""


def suggest(word: str, choices: Collection[str]) -> str:
    """` (did you mean "x"?)` when a known word is close, else nothing."""
    same_letters = [choice for choice in sorted(choices) if choice.lower() == word.lower()]
    close = same_letters or difflib.get_close_matches(word, sorted(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def unknown_key(where: str, key: str, known: Collection[str]) -> str:
    """`where: unknown key "k"` with the close one, or (when none is close) the known ones."""
    return f'{where}: unknown key "{key}"' + (
        suggest(key, known) or f" (known: {', '.join(known)})"
    )


def check_placement(document: object) -> None:
    """Refuse a cdk.json whose "amiwatch" sits at the top level, where CDK does not read it."""
    if isinstance(document, dict) and "amiwatch" in document:
        raise ConfigError(
            '"amiwatch" sits at the top level of cdk.json, where CDK does not read it: move it '
            'under "context" ({"app": ..., "context": {"amiwatch": {...}}})'
        )
