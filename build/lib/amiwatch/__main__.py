"""Allows `python -m amiwatch`."""

from amiwatch.cli import main

raise SystemExit(main())
