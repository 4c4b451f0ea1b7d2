"""The PDF report needs Pango (WeasyPrint) and CJK fonts from Debian's packages; without them the report
tests skip with one line, except where FIELDVISIT_REQUIRE_BROWSER=1 (CI), which installs them."""

from __future__ import annotations

import os

import pytest

SKIP_LINE = "PDF report tests were skipped: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk"


@pytest.fixture(autouse=True)
def pango_available() -> None:
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        if os.environ.get("FIELDVISIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the report tests are required here but WeasyPrint cannot load Pango: {exc}")
        pytest.skip(f"{SKIP_LINE} ({exc})")
