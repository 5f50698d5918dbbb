"""What the `amiwatch` command prints: a table, or JSON lines, streamed as the run finds things.

Nothing is kept for printing, so a 200,000-image baseline prints every image in constant memory.
Cells are cut to a display width (wide characters count two), one line each.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from amiwatch.model.contract import OutgoingEvent, Target
from amiwatch.model.records import ImageRecord
from amiwatch.run.result import WatchResult

COLUMNS = (("CHANGE", 22), ("WATCH", 20), ("IMAGE", 21), ("NAME", 40), ("STATE", 14))
MAX_DETAIL = 120
BASELINE_ROW = "baseline"


def display_width(text: str) -> int:
    """Terminal columns `text` takes: wide (East Asian) characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def fit(text: str, width: int, *, pad: bool = True) -> str:
    """`text` on one line, cut to `width` columns (with "..."), padded when `pad`."""
    text = " ".join(text.split())
    if display_width(text) > width:
        kept, used = [], 0
        for c in text:
            if used + display_width(c) > width - 3:
                break
            kept.append(c)
            used += display_width(c)
        text = "".join(kept) + "..."
    return text + " " * (width - display_width(text)) if pad else text


class Printer:
    """The run observer of the CLI: one row (or JSON line) per change or recorded image."""

    def __init__(self, *, as_json: bool, out: TextIO | None = None, dry_run: bool = False) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.dry_run = dry_run
        self.target = Target("", "", "")
        self.header_done = False
        self.closed = False  # the reader went away (`| head`): the run goes on, printing nothing

    def start(self, target: Target) -> None:
        """The next rows belong to this target."""
        self.target = target

    def changed(self, event: OutgoingEvent) -> None:
        """A change: its event detail."""
        self.detail(event.detail)

    def detail(self, detail: Mapping[str, Any]) -> None:
        """An event detail (as a subscriber received it)."""
        if self.as_json:
            self._line(json.dumps(detail))
        else:
            self._row(_change_cells(detail))

    def recorded(self, record: ImageRecord) -> None:
        """An image a baseline records (a dry run with no snapshot lists what it would record)."""
        if self.as_json:
            where = {"watch": self.target.watch, "account": self.target.account,
                     "region": self.target.region}  # fmt: skip
            self._line(json.dumps({**where, "baseline": True, "image": record.as_dict()}))
            return
        said = "would be recorded" if self.dry_run else "recorded"
        cells = (BASELINE_ROW, self.target.watch, record.image_id, record.name or "",
                 record.state or "", f"{said} as the baseline, no event")  # fmt: skip
        self._row(cells)

    def summary(self, result: WatchResult) -> None:
        """The run's summary as one JSON line: on stdout after a table, on stderr after JSON."""
        line = json.dumps(result.summary())
        if self.as_json:
            print(line, file=sys.stderr, flush=True)
        else:
            self._line(line)

    def _row(self, cells: tuple[str, ...]) -> None:
        if not self.header_done:
            self.header_done = True
            if self.dry_run:
                self._line("DRY RUN: nothing is written or published")
            self._row((*(name for name, _ in COLUMNS), "DETAIL"))
        fixed = [fit(cell, width) for cell, (_, width) in zip(cells, COLUMNS, strict=False)]
        self._line("  ".join([*fixed, fit(cells[-1], MAX_DETAIL, pad=False)]).rstrip())

    def _line(self, text: str) -> None:
        if self.closed:
            return
        try:
            print(text, file=self.out, flush=True)
        except BrokenPipeError:
            self.closed = True
            if self.out is sys.stdout:  # no second error when Python flushes stdout at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _change_cells(detail: Mapping[str, Any]) -> tuple[str, ...]:
    image = detail["image"]
    reason = image.get("StateReason") or {}
    state = image.get("State") or ""
    # A vanished image's record is the last one seen (often "available"): say what is known.
    if detail["change"] == "deregistered":
        state = "deregistered"
    elif detail["change"] == "unavailable":
        state = "not visible"
    elif detail["change"] == "disallowed":
        state = "not allowed"
    if detail["change"] == "failed" and reason:
        info = f"{reason.get('Code')}: {reason.get('Message')}"
    elif detail["change"].startswith("deprecat"):
        info = f"DeprecationTime {image.get('DeprecationTime')}"
    elif detail["changedFields"]:
        previous = detail["previous"] or {}
        info = ", ".join(
            f"{f} {json.dumps(previous.get(f))} -> {json.dumps(image.get(f))}"
            for f in detail["changedFields"]
        )
    else:
        info = detail["reason"]
    return (detail["change"], detail["watch"], image["ImageId"], image.get("Name") or "",
            state, info)  # fmt: skip


def aligned(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart (the first row is the header)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in table]  # fmt: skip
