"""Charts (matplotlib, object API, safe to run in a worker thread) and PDF reports (reportlab), shared
by the dashboard export and the performance report. The dashboard PDF draws its pipeline chart with
reportlab's own vector graphics (crisp at any zoom, and a fraction of matplotlib's cost); the PNG chart sent
to Slack is matplotlib's."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from bot import clock
from bot.services.feedback import CRITERIA, PerformanceReport
from views.common import money, phone

if TYPE_CHECKING:
    from bot.services.dashboard import Dashboard

from matplotlib.figure import Figure
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

BRAND = "#1d3557"
ACCENT = "#e63946"
STAGE_COLOURS = ["#a8dadc", "#457b9d", "#1d3557", "#f4a261", "#2a9d8f", "#e63946"]


def chart_text(text: str) -> str:
    """User text made literal for matplotlib: every `$` escaped, so mathtext never parses a client's name
    (`Acme $\\frac{1}{$ Ltd` would raise, and `$x$` would turn into maths). Every string a chart draws goes
    through here."""
    return str(text).replace("$", r"\$")


def pdf_text(text: Any) -> str:
    """User text made literal for reportlab's paragraph markup (`<`, `>`, `&` escaped, line breaks kept).
    Every string a PDF paragraph draws goes through here."""
    return escape(str(text)).replace("\n", "<br/>")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


# A table cell's text stands inside its left and right padding (reportlab's default: 6 pt each).
_CELL_PADDING = 12


def _cell(value: Any, style: Any, width: float | None) -> str | Paragraph:
    """A table cell: its text as it is when it fits on one line of the column (drawn as a string, no markup
    read), a wrapping paragraph otherwise. Laying a paragraph out was most of a PDF's CPU: a dashboard
    export sets ~400 cells, nearly all of them short."""
    text = str(value)
    fits = width is not None and stringWidth(text, style.fontName, style.fontSize) <= width - _CELL_PADDING
    return text if fits and "\n" not in text else Paragraph(pdf_text(text), style)


def month_label(key: str) -> str:
    """ "2026-06" -> "Jun 2026"."""
    try:
        return datetime.strptime(key, "%Y-%m").strftime("%b %Y")
    except ValueError:
        return key


def _counts_axis(axis: Any, values: Sequence[float], *, unit: str, horizontal: bool = False) -> None:
    """A count axis from 0 up (never negative, whole numbers only) labelled with its unit."""
    top = max([*values, 0])
    (axis.set_xlim if horizontal else axis.set_ylim)(0, max(top * 1.15, 1))
    (axis.xaxis if horizontal else axis.yaxis).get_major_locator().set_params(integer=True)
    (axis.set_xlabel if horizontal else axis.set_ylabel)(unit, fontsize=8, color="#555555")
    axis.spines[["top", "right"]].set_visible(False)


def _empty(axis: Any, text: str) -> None:
    """An empty panel says why instead of drawing axes around nothing."""
    axis.set_axis_off()
    axis.text(
        0.5, 0.5, text, ha="center", va="center", fontsize=10, color="#777777", transform=axis.transAxes
    )


def pipeline_chart(pipeline: dict[str, int], hires_by_month: Sequence[tuple[str, int]], title: str) -> bytes:
    """Two panels: candidates by stage, and hires per month over the last year."""
    figure = Figure(figsize=(9, 3.4))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    stages = [chart_text(s) for s in pipeline]
    counts = list(pipeline.values())
    left.set_title("Candidates by stage", fontsize=10)
    if any(counts):
        left.barh(stages[::-1], counts[::-1], color=STAGE_COLOURS[: len(stages)][::-1])
        left.tick_params(labelsize=8)
        for index, count in enumerate(counts[::-1]):
            left.text(count, index, f" {count}", va="center", fontsize=8)
        _counts_axis(left, counts, unit="candidates", horizontal=True)
    else:
        _empty(left, "No candidates yet")
    hires = [n for _, n in hires_by_month]
    right.set_title("Hires per month (last 12 months)", fontsize=10)
    if any(hires):
        labels = [chart_text(label) for label in _month_labels(hires_by_month)]
        bars = right.bar(labels, hires, color=BRAND)
        right.bar_label(bars, labels=[str(n) if n else "" for n in hires], fontsize=7)
        right.tick_params(axis="x", labelsize=7, rotation=45)
        right.tick_params(axis="y", labelsize=8)
        _counts_axis(right, hires, unit="hires")
    else:
        _empty(right, "No hires in the last 12 months")
    figure.suptitle(chart_text(title), fontsize=11, color=BRAND)
    figure.tight_layout()
    return _png(figure)


def _month_labels(hires_by_month: Sequence[tuple[str, int]]) -> list[str]:
    """ "Jun 2026" on January and the first month, "Jul" elsewhere: readable and unambiguous."""
    return [
        month_label(key) if index == 0 or key.endswith("-01") else month_label(key)[:3]
        for index, (key, _) in enumerate(hires_by_month)
    ]


def _ticks(top: float) -> list[int]:
    """Whole-number ticks from 0 up to `top`, a step of 1, 2 or 5 x 10^k: at most 8 of them."""
    step, factors = 1, (2, 2.5, 2)  # 1, 2, 5, 10, 20, 50, ...
    while top / step > 7:
        step = int(step * factors[0])
        factors = factors[1:] + factors[:1]
    return list(range(0, int(top) + 1, step))


_GREY = colors.HexColor("#555555")


def _fit(text: str, size: float, width: float, font: str = "Helvetica") -> str:
    """`text` cut with an ellipsis to fit `width` points."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _text(x: float, y: float, text: str, size: float, *, anchor: str = "start", **kw: Any) -> String:
    return String(x, y, text, fontName="Helvetica", fontSize=size, textAnchor=anchor, **kw)


def _panel_title(group: Group, x0: float, x1: float, top: float, text: str) -> None:
    group.add(_text((x0 + x1) / 2, top - 10, _fit(text, 10, x1 - x0), 10, anchor="middle"))


def _empty_panel(group: Group, x0: float, x1: float, y0: float, y1: float, text: str) -> None:
    group.add(
        _text((x0 + x1) / 2, (y0 + y1) / 2, _fit(text, 10, x1 - x0), 10, anchor="middle", fillColor=_GREY)
    )


def _stage_panel(group: Group, pipeline: dict[str, int], x0: float, x1: float, y0: float, y1: float) -> None:
    """Candidates by stage: one horizontal bar per stage, the first stage on top, its count at the end."""
    _panel_title(group, x0, x1, y1, "Candidates by stage")
    counts = list(pipeline.values())
    if not any(counts):
        _empty_panel(group, x0, x1, y0, y1 - 16, "No candidates yet")
        return
    labels = [_fit(str(stage), 8, (x1 - x0) * 0.4) for stage in pipeline]
    left = x0 + max(stringWidth(label, "Helvetica", 8) for label in labels) + 6
    right, bottom, top = x1 - 4, y0 + 26, y1 - 18  # room for the tick labels and unit below, title above
    scale = (right - left) / max(max(counts) * 1.15, 1)
    slot = (top - bottom) / len(counts)
    for index, (label, count) in enumerate(zip(labels, counts, strict=True)):
        middle = top - slot * (index + 0.5)
        colour = colors.HexColor(STAGE_COLOURS[index % len(STAGE_COLOURS)])
        group.add(
            Rect(left, middle - slot * 0.4, count * scale, slot * 0.8, fillColor=colour, strokeColor=None)
        )
        group.add(_text(left - 3, middle - 3, label, 8, anchor="end"))
        group.add(_text(left + count * scale + 2, middle - 3, str(count), 8))
    group.add(Line(left, bottom, left, top, strokeWidth=0.6))
    group.add(Line(left, bottom, right, bottom, strokeWidth=0.6))
    for tick in _ticks(max(counts) * 1.15):
        group.add(Line(left + tick * scale, bottom, left + tick * scale, bottom - 3, strokeWidth=0.6))
        group.add(_text(left + tick * scale, bottom - 11, str(tick), 8, anchor="middle"))
    group.add(_text((left + right) / 2, y0 + 2, "candidates", 8, anchor="middle", fillColor=_GREY))


def _hires_panel(
    group: Group, hires_by_month: Sequence[tuple[str, int]], x0: float, x1: float, y0: float, y1: float
) -> None:
    """Hires per month over the last year: one bar a month, its count on top, month names slanted."""
    _panel_title(group, x0, x1, y1, "Hires per month (last 12 months)")
    hires = [n for _, n in hires_by_month]
    if not any(hires):
        _empty_panel(group, x0, x1, y0, y1 - 16, "No hires in the last 12 months")
        return
    left, right, bottom, top = x0 + 30, x1 - 4, y0 + 34, y1 - 18
    scale = (top - bottom) / max(max(hires) * 1.15, 1)
    slot = (right - left) / len(hires)
    for index, (label, count) in enumerate(zip(_month_labels(hires_by_month), hires, strict=True)):
        middle = left + slot * (index + 0.5)
        group.add(
            Rect(
                middle - slot * 0.4,
                bottom,
                slot * 0.8,
                count * scale,
                fillColor=colors.HexColor(BRAND),
                strokeColor=None,
            )
        )
        if count:
            group.add(_text(middle, bottom + count * scale + 2, str(count), 7, anchor="middle"))
        slanted = Group(_text(0, 0, label, 7, anchor="end"))
        slanted.translate(middle + 2, bottom - 5)
        slanted.rotate(45)
        group.add(slanted)
    group.add(Line(left, bottom, right, bottom, strokeWidth=0.6))
    group.add(Line(left, bottom, left, top, strokeWidth=0.6))
    for tick in _ticks(max(hires) * 1.15):
        group.add(Line(left - 3, bottom + tick * scale, left, bottom + tick * scale, strokeWidth=0.6))
        group.add(_text(left - 5, bottom + tick * scale - 3, str(tick), 8, anchor="end"))
    unit = Group(_text(0, 0, "hires", 8, anchor="middle", fillColor=_GREY))
    unit.translate(x0 + 6, (bottom + top) / 2)
    unit.rotate(90)
    group.add(unit)


def pipeline_drawing(
    pipeline: dict[str, int],
    hires_by_month: Sequence[tuple[str, int]],
    title: str,
    *,
    width: float = 180 * mm,
    height: float = 68 * mm,
) -> Drawing:
    """`pipeline_chart` as reportlab vector graphics for a PDF: the same two panels (candidates by stage,
    hires per month over the last year) under the title. Text is drawn literally (no markup, no mathtext)."""
    drawing = Drawing(width, height)
    group = Group()
    group.add(
        _text(
            width / 2,
            height - 11,
            _fit(title, 11, width),
            11,
            anchor="middle",
            fillColor=colors.HexColor(BRAND),
        )
    )
    split = width * 1 / 2.4  # the panels' widths are 1 : 1.4, as in the PNG chart
    _stage_panel(group, pipeline, 0, split - 10, 0, height - 18)
    _hires_panel(group, hires_by_month, split + 10, width, 0, height - 18)
    drawing.add(group)
    return drawing


def bar_chart(labels: Sequence[str], values: Sequence[int], *, title: str, unit: str = "") -> bytes:
    """Bars with their values on top, from 0 up; an all-zero series says so instead of an empty axis."""
    figure = Figure(figsize=(6, 2.6))
    axis = figure.subplots()
    axis.set_title(chart_text(title), fontsize=10, color=BRAND)
    if any(values):
        bars = axis.bar([chart_text(label) for label in labels], values, color=BRAND)
        axis.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=8)
        axis.tick_params(labelsize=8)
        _counts_axis(axis, values, unit=unit)
    else:
        _empty(axis, f"No {unit or 'data'} in this period")
    figure.tight_layout()
    return _png(figure)


def trend_chart(
    periods: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    highlight: Sequence[str] = (),
) -> bytes:
    """Lines per criterion across periods (1-5 scale), with the compared periods shaded and named in the
    legend, which sits beside the plot, never over it."""
    figure = Figure(figsize=(9.5, 3.8))
    axis = figure.subplots()
    periods = [chart_text(p) for p in periods]
    for name, values in series.items():
        axis.plot(
            periods,
            [v if v is not None else float("nan") for v in values],
            marker="o",
            label=chart_text(name),
            linewidth=2.5 if name.lower().startswith("overall") else 1.4,
        )
    shaded = [chart_text(p) for p in highlight if chart_text(p) in periods]
    for index, period in enumerate(shaded):
        at = periods.index(period)
        axis.axvspan(
            at - 0.4, at + 0.4, color=ACCENT, alpha=0.12, label="compared quarters" if index == 0 else None
        )
    axis.set_ylim(0.5, 5.5)
    axis.set_yticks([1, 2, 3, 4, 5])
    axis.set_ylabel("average rating (1-5 stars)", fontsize=8)
    axis.set_title(chart_text(title), fontsize=11, color=BRAND)
    axis.tick_params(axis="x", labelsize=8, rotation=45)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axis.grid(alpha=0.3)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)


class PdfReport:
    """A small builder over reportlab's platypus: title, figures, tables, images, paragraphs."""

    def __init__(self, title: str, subtitle: str = "", logo: bytes | None = None) -> None:
        self.styles = getSampleStyleSheet()
        self.title = title
        self.story: list[Any] = []
        if logo:
            image = Image(io.BytesIO(logo))
            scale = min(30 * mm / image.imageWidth, 18 * mm / image.imageHeight)
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            image.hAlign = "LEFT"
            self.story.append(image)
        self.story.append(Paragraph(pdf_text(title), self.styles["Title"]))
        if subtitle:
            self.story.append(Paragraph(pdf_text(subtitle), self.styles["Italic"]))
        self.story.append(Spacer(1, 4 * mm))

    def heading(self, text: str) -> None:
        """A section heading, kept on the page of what follows it (never alone at a page's foot)."""
        self.story.append(Paragraph(pdf_text(text), self.styles["Heading2"].clone("kept", keepWithNext=1)))

    def paragraph(self, text: str) -> None:
        self.story.append(Paragraph(pdf_text(text), self.styles["BodyText"]))

    def table(self, rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None) -> None:
        cell = self.styles["BodyText"]
        head = cell.clone(
            "table-head", textColor=colors.white, fontName="Helvetica-Bold", fontSize=8.5, leading=10
        )
        data = [
            [
                _cell(v, head if index == 0 else cell, None if widths is None else widths[column])
                for column, v in enumerate(row)
            ]
            for index, row in enumerate(rows)
        ]
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    # text that fits on a line is drawn as it is, in its paragraph's font (`_cell`)
                    ("FONT", (0, 0), (-1, 0), head.fontName, head.fontSize, head.leading),
                    ("FONT", (0, 1), (-1, -1), cell.fontName, cell.fontSize, cell.leading),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(BRAND)),
                    ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f1faee")]),
                ]
            )
        )
        self.story += [table, Spacer(1, 4 * mm)]

    def tiles(self, figures: Sequence[tuple[str, str]], per_row: int = 4) -> None:
        """KPI tiles: each figure large over its label, `per_row` to a row."""
        value_style = self.styles["BodyText"].clone(
            "tile-value", fontName="Helvetica-Bold", fontSize=16, leading=19, textColor=colors.HexColor(BRAND)
        )
        label_style = self.styles["BodyText"].clone(
            "tile-label", fontSize=7.5, leading=9, textColor=colors.HexColor("#555555")
        )
        cells = [
            [Paragraph(pdf_text(value), value_style), Paragraph(pdf_text(label), label_style)]
            for label, value in figures
        ]
        cells += [""] * (-len(cells) % per_row)
        rows = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
        width = (A4[0] - 30 * mm) / per_row
        table = Table(rows, colWidths=[width] * per_row)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f1faee")),
                    ("BOX", (0, 0), (-1, -1), 0, colors.white),
                    ("INNERGRID", (0, 0), (-1, -1), 3, colors.white),
                    ("LINEABOVE", (0, 0), (-1, -1), 2, colors.HexColor(BRAND)),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                ]
            )
        )
        self.story += [table, Spacer(1, 5 * mm)]

    def image(self, png: bytes, width_mm: float = 180) -> None:
        image = Image(io.BytesIO(png))
        scale = width_mm * mm / image.imageWidth
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        self.story += [image, Spacer(1, 4 * mm)]

    def drawing(self, drawing: Drawing) -> None:
        self.story += [drawing, Spacer(1, 4 * mm)]

    def build(self) -> bytes:
        buffer = io.BytesIO()
        footer = f"{self.title} · generated {clock.now():%Y-%m-%d %H:%M} UTC"

        class NumberedCanvas(Canvas):
            """Draws each page's footer once the page count is known: "page 2 of 3"."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.pages: list[dict[str, Any]] = []

            def showPage(self) -> None:
                self.pages.append(dict(self.__dict__))
                self._startPage()

            def save(self) -> None:
                for page in self.pages:
                    self.__dict__.update(page)
                    self.saveState()
                    self.setFont("Helvetica", 7)
                    self.setFillColor(colors.grey)
                    self.drawString(15 * mm, 10 * mm, footer)
                    self.drawRightString(
                        A4[0] - 15 * mm, 10 * mm, f"page {self._pageNumber} of {len(self.pages)}"
                    )
                    self.restoreState()
                    super().showPage()
                super().save()

        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            title=self.title,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=18 * mm,
        )
        document.build(self.story, canvasmaker=NumberedCanvas)
        return buffer.getvalue()


def dashboard_figures(dashboard: Dashboard) -> list[tuple[str, str]]:
    """The dashboard's headline and quick figures as (label, value), shared by the PDF and its tests."""
    stats = dashboard.stats
    rate = f"{stats.offer_acceptance_rate:.0%}" if stats.offer_acceptance_rate is not None else "n/a"
    ttf = f"{stats.avg_time_to_fill_days:g} days" if stats.avg_time_to_fill_days is not None else "n/a"
    quality = f"{stats.avg_quality_score:g} / 5" if stats.avg_quality_score is not None else "n/a"
    return [
        ("Active jobs", str(stats.active_jobs)),
        ("Total candidates", str(stats.total_candidates)),
        ("Placements", str(stats.placements)),
        ("Revenue", money(stats.revenue)),
        ("Open positions", str(stats.open_positions)),
        ("Average time to fill", ttf),
        ("Offer acceptance rate", rate),
        ("Average candidate quality", quality),
    ]


def dashboard_pdf(dashboard: Dashboard, logo: bytes | None = None) -> bytes:
    client = dashboard.client
    manager = client.account_manager.display_name if client.account_manager else "unassigned"
    report = PdfReport(
        f"{client.name} ({client.client_code})",
        f"Client dashboard · {dashboard.today:%d %B %Y} · status {client.status} · "
        f"industry {client.industry or 'n/a'} · account manager {manager}",
        logo,
    )
    if dashboard.health is not None:
        report.heading("Health")
        report.paragraph(dashboard.health.describe())
    report.heading("Key figures")
    report.tiles(dashboard_figures(dashboard))
    if changes := dashboard.changes:
        rows: list[tuple[str, ...]] = [("Figure", "Then", "Now", "Change")]
        for c in changes:
            is_money = c.figure == "revenue"
            show: Callable[[Any], str] = money if is_money else str
            sign = "+" if c.delta > 0 else "−" if c.delta < 0 else "±"
            delta = f"{sign}{money(abs(c.delta))}" if is_money else f"{c.delta:+d}"
            rows.append((c.figure.replace("_", " ").capitalize(), show(c.then), show(c.now), delta))
        report.heading(f"Since {dashboard.since:%d %B %Y} (nightly snapshots)")
        report.table(rows, widths=[60 * mm, 40 * mm, 40 * mm, 40 * mm])
    report.heading("Pipeline")
    report.table(
        [("Stage", "Candidates"), *((s, str(n)) for s, n in dashboard.stats.pipeline.items())],
        widths=[90 * mm, 90 * mm],
    )
    report.drawing(
        pipeline_drawing(
            dashboard.stats.pipeline,
            dashboard.hires_by_month,
            f"{client.name} · pipeline and hires",
        )
    )
    if dashboard.follow_ups:
        report.heading("Follow-ups due")
        report.table(
            [
                ("Due", "Subject"),
                *((f"{r.follow_up_date:%d %b %Y}", r.subject or r.notes or "") for r in dashboard.follow_ups),
            ],
            widths=[30 * mm, 150 * mm],
        )
    report.heading("Recent activity")
    rows = [(f"{item.at:%d %b %Y %H:%M}", item.kind, item.text) for item in dashboard.timeline]
    report.table(
        [("When (UTC)", "What", "Details"), *rows] if rows else [("Recent activity",), ("None yet",)],
        widths=[32 * mm, 30 * mm, 118 * mm] if rows else None,
    )
    contacts = [c for c in client.contacts if c.is_active]
    report.heading("Contacts")
    report.table(
        [
            ("Name", "Title", "Email", "Phone"),
            *(
                (
                    ("★ " if c.is_primary else "") + c.full_name,
                    c.title or "",
                    c.email,
                    phone(c.phone or c.mobile),
                )
                for c in contacts
            ),
        ],
        widths=[45 * mm, 35 * mm, 60 * mm, 40 * mm],
    )
    return report.build()


def performance_chart(report: PerformanceReport) -> bytes:
    periods = [s.period for s in report.periods]
    series = {label: [s.averages[c] for s in report.periods] for c, label in CRITERIA.items()}
    highlight = [s.period for s in (report.period, report.compared) if s is not None]
    return trend_chart(
        periods, series, title=f"{report.client.name} · client feedback by quarter", highlight=highlight
    )


def _score(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def performance_pdf(report: PerformanceReport, chart: bytes, logo: bytes | None = None) -> bytes:
    client, current, other = report.client, report.period, report.compared
    assert current is not None and other is not None
    pdf = PdfReport(
        f"{client.name} ({client.client_code})",
        f"Performance report · {current.period} compared with {other.period}"
        f" · {'finalised' if current.finalized else 'draft (not finalised)'}",
        logo,
    )
    pdf.heading(f"{current.period} at a glance")
    pdf.tiles(
        [
            (
                f"{label} (1-5 stars), "
                + (
                    f"{report.deltas[column]:+.2f} vs {other.period}"
                    if report.deltas[column] is not None
                    else "new"
                ),
                _score(current.averages[column]),
            )
            for column, label in CRITERIA.items()
        ]
        + [("responses", str(current.responses))],
        per_row=3,
    )
    pdf.heading(f"{current.period} vs {other.period}")
    rows = [("Criterion", other.period, current.period, "Change")]
    for column, label in CRITERIA.items():
        delta = report.deltas[column]
        rows.append(
            (
                label,
                _score(other.averages[column]),
                _score(current.averages[column]),
                f"{delta:+.2f}" if delta is not None else "n/a",
            )
        )
    pdf.table(rows, widths=[60 * mm, 40 * mm, 40 * mm, 40 * mm])
    pdf.paragraph(
        f"{current.responses} response(s) for {current.period}, {other.responses} for {other.period}."
    )
    pdf.image(chart)
    pdf.heading("Trend")
    pdf.table(
        [
            ("Period", *CRITERIA.values(), "Replies"),
            *(
                (s.period, *(_score(s.averages[c]) for c in CRITERIA), str(s.responses))
                for s in report.periods
            ),
        ],
        widths=[18 * mm, *[29 * mm] * len(CRITERIA), 17 * mm],
    )
    pdf.heading(f"Written feedback, {current.period}")
    for text in current.written or ["No written feedback."]:
        pdf.paragraph(text)
    return pdf.build()


def dashboard_chart(dashboard: Dashboard) -> bytes:
    return pipeline_chart(
        dashboard.stats.pipeline, dashboard.hires_by_month, f"{dashboard.client.name} · pipeline and hires"
    )


def dashboard_export(dashboard: Dashboard, logo: bytes | None) -> bytes:
    """The whole dashboard export (chart and PDF): run it in a worker process (bot.render)."""
    return dashboard_pdf(dashboard, logo)


def performance_export(report: PerformanceReport, logo: bytes | None) -> bytes:
    """The whole performance report (trend chart and PDF): run it in a worker process (bot.render)."""
    return performance_pdf(report, performance_chart(report), logo)


def warm_up() -> None:
    """Draw a throwaway chart and PDF, so a fresh worker process's first real one does not also pay for
    loading fonts and filling matplotlib's and reportlab's caches (bot.render: as each worker starts)."""
    months = [(f"2026-{m:02d}", m % 3) for m in range(1, 13)]
    pipeline_chart({"Applied": 3, "Hired": 1}, months, "warm-up")
    report = PdfReport("warm-up", "warm-up")
    report.heading("warm-up")
    report.tiles([("warm-up", "1")])
    report.table([("a", "b"), ("1", "2")])
    report.drawing(pipeline_drawing({"Applied": 3, "Hired": 1}, months, "warm-up"))
    report.build()
