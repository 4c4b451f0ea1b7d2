"""Dates and times in query parameters and JSON bodies: ISO 8601 text only. Pydantic would also take a bare
number as a Unix time, which no client of ours means."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text(pattern: re.Pattern[str], expected: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.match(value):
            raise ValueError(expected)
        if not isinstance(value, str | dt.date):  # a number in a JSON body
            raise ValueError(expected)
        return value

    return BeforeValidator(check)


def assume_utc(moment: dt.datetime) -> dt.datetime:
    """A time sent without an offset is read as UTC (as the API documents)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


# A time in a body: without an offset, UTC.
UtcDateTime = Annotated[dt.datetime, AfterValidator(assume_utc)]

IsoDate = Annotated[dt.date, _iso_text(_ISO_DATE, "a date as YYYY-MM-DD")]
IsoDateTime = Annotated[
    dt.datetime,
    _iso_text(_ISO_DATETIME, "an RFC 3339 time, e.g. 2026-11-30T08:00:00+08:00"),
    AfterValidator(assume_utc),
]
IsoAwareDateTime = Annotated[
    AwareDatetime, _iso_text(_ISO_DATETIME, "an RFC 3339 time with an offset, e.g. 2026-11-30T08:00:00+08:00")
]
