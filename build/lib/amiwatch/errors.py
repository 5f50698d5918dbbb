"""The one error type for a configuration mistake, shared by synth, the Lambda and the CLI."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration mistake, with a message that names the watch (or setting) and the field."""
