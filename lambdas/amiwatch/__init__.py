"""amiwatch: watch AMIs, diff them against a snapshot, publish one event per change."""
