"""amiwatch: watch AMIs, diff them against a snapshot, publish one event per change."""

__version__ = "0.2.0"
