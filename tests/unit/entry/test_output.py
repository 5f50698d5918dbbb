"""The CLI's table: one line per row, cut to the width a terminal shows."""

from __future__ import annotations

import io

from amiwatch.entry.output import COLUMNS, MAX_DETAIL, Printer, display_width, fit


def detail(**image: object) -> dict:
    return {"change": "updated", "watch": "golden", "reason": "fields-changed",
            "changedFields": ["Tags"], "previous": {"Tags": {"k": "v"}},
            "image": {"ImageId": "ami-1", "State": "available", **image}}  # fmt: skip


def test_wide_characters_count_two_columns_and_cells_stay_aligned():
    out = io.StringIO()
    printer = Printer(as_json=False, out=out)

    printer.detail(detail(Name="ゴールデン画像-2026", Tags={"k": "v2"}))
    printer.detail(detail(Name="golden-2026", Tags={"k": "v2"}))
    header, wide, narrow = out.getvalue().splitlines()

    assert display_width(wide) == display_width(narrow)
    assert display_width(header[: header.index("DETAIL")]) == display_width(
        wide[: wide.index("Tags")]
    )


def test_a_huge_tag_change_is_one_capped_line():
    out = io.StringIO()

    Printer(as_json=False, out=out).detail(detail(Name="x", Tags={"k": "v" * 40_000 + "\n"}))
    row = out.getvalue().splitlines()[1]

    widest = sum(width for _, width in COLUMNS) + 2 * len(COLUMNS) + MAX_DETAIL
    assert row.endswith("...") and display_width(row) <= widest


def test_fit_cuts_by_display_width_and_joins_lines():
    assert fit("a\nb", 5) == "a b  "
    assert display_width(fit("画像" * 10, 9)) == 9
