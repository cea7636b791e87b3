"""The agency's success metrics: the `/client metrics` message and the App Home section."""

from __future__ import annotations

from typing import Any

from bot.services.metrics import Metrics, Rate, ReportTimes
from views.common import context, divider, escape, fields_section, header, message, section

_SPARK = "▁▂▃▄▅▆▇█"


def _percent(rate: Rate) -> str:
    return "–" if rate.value is None else f"{rate.value * 100:.0f} %"


def _figure(rate: Rate) -> str:
    """`82 % (41/50) ✅ target 80 %`."""
    mark = {True: " :white_check_mark:", False: " :warning:", None: ""}[rate.met]
    target = f" · target {rate.target * 100:.0f} %" if rate.target is not None else ""
    return f"*{_percent(rate)}* ({rate.numerator}/{rate.denominator}){mark}{target}"


def _seconds(ms: int | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f} s"


def _report_line(times: ReportTimes) -> str:
    if not times.count:
        return "no reports built"
    return f"{times.count} built · median {_seconds(times.p50_ms)} · p95 {_seconds(times.p95_ms)}"


def _spark(rates: list[Rate]) -> str:
    """A bar per month (0 to 100 %); a gap where there was nothing to measure."""
    return "".join(
        " " if r.value is None else _SPARK[min(len(_SPARK) - 1, int(r.value * len(_SPARK)))] for r in rates
    )


def _trend_lines(metrics: Metrics) -> str:
    months = metrics.trend
    if not months:
        return ""
    span = f"{months[0].month} → {months[-1].month}"
    rows = [
        ("Logging coverage", [m.logging_coverage for m in months]),
        ("Manager adoption", [m.adoption for m in months]),
        ("Centralisation", [m.centralisation for m in months]),
    ]
    lines = [f"`{_spark(rates)}` {label}: {' · '.join(_percent(r) for r in rates)}" for label, rates in rows]
    builds = " · ".join(str(m.report_times.count) for m in months)
    return f"*Trend by month* ({escape(span)})\n" + "\n".join(lines) + f"\nReports built: {builds}"


def metrics_blocks(metrics: Metrics, *, compact: bool = False) -> list[dict[str, Any]]:
    """The metrics as blocks: the figures against their targets, the feedback quarters and the monthly
    trend. `compact` (App Home) leaves out the quarter list and the explanation."""
    quarters = " · ".join(f"{q} {_percent(r)}" for q, r in metrics.feedback_by_quarter)
    blocks: list[dict[str, Any]] = [
        fields_section(
            [
                (f"Feedback completion ({metrics.feedback_quarter})", _figure(metrics.feedback_completion)),
                ("Logging coverage (30 days)", _figure(metrics.logging_coverage)),
                ("HR Manager adoption", _figure(metrics.adoption)),
                ("Recruiters active", _figure(metrics.recruiters_active)),
                ("Centralisation (contact + manager)", _figure(metrics.centralisation)),
                ("Report build times", _report_line(metrics.report_times)),
            ]
        ),
    ]
    if not compact:
        blocks.append(section(f"*Feedback completion by quarter*\n{escape(quarters)}"))
    trend = _trend_lines(metrics)
    if trend:
        blocks.append(section(trend))
    if not compact:
        blocks.append(
            context(
                "Active clients only. Feedback: finalised feedback for the quarter. Logging: a communication"
                " in the 30 days before the end of the period. Adoption: anything recorded in the audit"
                " trail during the period. Centralisation: a primary contact and an account manager."
            )
        )
    return blocks


def metrics_message(metrics: Metrics) -> dict[str, Any]:
    return message(
        f"Success metrics {metrics.period}",
        [header(f"Success metrics · {metrics.period}"), *metrics_blocks(metrics)],
    )


def home_section(metrics: Metrics) -> list[dict[str, Any]]:
    """The App Home section for HR Managers and Admins (the Home view places it)."""
    return [
        divider(),
        section(f"*Agency success metrics · {escape(metrics.period)}*  (`/client metrics` for details)"),
        *metrics_blocks(metrics, compact=True),
    ]
