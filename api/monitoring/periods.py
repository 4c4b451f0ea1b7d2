"""Reporting periods as banks write them: 2026Q3 (a quarter), 2026-09 (a month), 2026 (a year)."""

from __future__ import annotations

import calendar
import datetime as dt
import re

PERIOD = re.compile(r"^(?P<year>\d{4})(?:Q(?P<quarter>[1-4])|-(?P<month>0[1-9]|1[0-2]))?$")


def period_end(period: str) -> dt.date:
    """The last day of the period; ValueError for anything else."""
    match = PERIOD.match(period)
    if match is None:
        raise ValueError("a period is a year (2026), a quarter (2026Q3) or a month (2026-09)")
    year = int(match["year"])
    if not 1900 <= year <= 2200:
        raise ValueError("the period's year is out of range")
    if match["quarter"]:
        month = int(match["quarter"]) * 3
    elif match["month"]:
        month = int(match["month"])
    else:
        month = 12
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def kind(period: str) -> str:
    return "quarter" if "Q" in period else "month" if "-" in period else "year"


def year_before(period: str) -> str:
    """The same period a year earlier (2026Q3 → 2025Q3)."""
    return f"{int(period[:4]) - 1}{period[4:]}"


def before(period: str) -> str:
    """The period just before it, of the same kind (2026Q1 → 2025Q4, 2026-01 → 2025-12, 2026 → 2025)."""
    year = int(period[:4])
    if "Q" in period:
        quarter = int(period[-1])
        return f"{year - 1}Q4" if quarter == 1 else f"{year}Q{quarter - 1}"
    if "-" in period:
        month = int(period[-2:])
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    return str(year - 1)
