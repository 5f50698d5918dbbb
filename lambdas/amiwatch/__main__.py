"""Allows `python -m amiwatch`."""

from amiwatch.entry.cli import main

raise SystemExit(main())
