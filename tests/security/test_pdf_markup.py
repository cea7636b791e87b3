"""User text in a PDF's tables is drawn as typed: reportlab's paragraph markup (`<b>`, `<font>`, `<img>`,
entities) in a name or a subject is never read as markup, whether the cell is short enough to be drawn as
a plain string or long enough to wrap as a paragraph (bot/reports.py `_cell`)."""

from __future__ import annotations

import io

from pypdf import PdfReader
from reportlab.lib.units import mm

from bot.reports import PdfReport

HOSTILE = [
    '<b>bold</b> & <font color="red">x</font>',
    "<img src='/etc/passwd'/> &amp; &lt;",
    "<para>" + "very long hostile <i>subject</i> " * 8 + "</para>",  # too long for its column: wraps
]


def test_markup_in_table_cells_is_drawn_literally() -> None:
    report = PdfReport("Markup")
    report.table([("Name", "Note"), *((text, text[:20]) for text in HOSTILE)], widths=[120 * mm, 60 * mm])
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(report.build())).pages)
    flat = " ".join(text.split())
    for typed in HOSTILE[:2]:
        assert typed in flat, typed
    assert "very long hostile <i>subject</i>" in flat and "<para>" in flat
