"""The tests' one clock is the product's, frozen at FIELDVISIT_TEST_NOW: the bank's date follows it, whatever
the machine's clock and TZ say."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from time_machine import escape_hatch

from api.db import utcnow
from tests.conftest import TEST_NOW
from tests.factories import BANK_ZONE, bank_today

pytestmark = pytest.mark.calendar


def test_the_product_clock_is_frozen_at_the_test_instant() -> None:
    assert escape_hatch.is_travelling()
    assert abs(utcnow() - TEST_NOW) < dt.timedelta(minutes=5)
    assert abs(time.time() - TEST_NOW.timestamp()) < 300


def test_the_bank_date_is_read_in_the_bank_zone_not_the_machine_zone() -> None:
    from zoneinfo import ZoneInfo

    assert bank_today() == TEST_NOW.astimezone(ZoneInfo(BANK_ZONE)).date()


@pytest.mark.real_clock
def test_a_real_clock_test_is_not_frozen() -> None:
    assert not escape_hatch.is_travelling()
