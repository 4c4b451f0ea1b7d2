"""Crash points for the crash tests. FIELDVISIT_CRASH_AT names one; the process dies there at once, with
no cleanup, as a SIGKILL or a power cut would leave it. Unset (always, outside those tests), a crash
point costs one string comparison."""

from __future__ import annotations

import os

_CRASH_AT = os.environ.get("FIELDVISIT_CRASH_AT", "")


def crash_point(name: str) -> None:
    if _CRASH_AT and name == _CRASH_AT:
        os._exit(137)
