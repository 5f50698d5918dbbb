"""The one error type for a configuration mistake, shared by synth, the Lambda and the CLI."""


class ConfigError(ValueError):
    """A configuration mistake, with a message that names the watch (or setting) and the field."""
