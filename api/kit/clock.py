"""The bank's calendar day: due dates and "overdue" are judged in the bank's zone, not UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def today_in(zone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(zone)).date()
