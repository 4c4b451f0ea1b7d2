"""Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters, the last a check digit."""

from __future__ import annotations

import operator

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
VALUE = {char: n for n, char in enumerate(ALPHABET)}
_ALLOWED = frozenset(ALPHABET)


def check_character(first17: str) -> str:
    if len(first17) != 17:
        raise ValueError("the check character is computed over 17 characters")
    # map() over C callables: an import checks 50,000 codes, and a generator expression costs 3x more.
    total = sum(map(operator.mul, map(VALUE.__getitem__, first17), WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """None when valid, else why not (in English; callers translate)."""
    if len(code) != 18:
        return "must be 18 characters"
    bad = set(code) - _ALLOWED
    if bad:
        return f"contains characters outside GB 32100-2015: {''.join(sorted(bad))}"
    if check_character(code[:17]) != code[17]:
        return "check digit does not match"
    return None


def complete(first17: str) -> str:
    """Append the check character (used by the demo data and tests)."""
    return first17 + check_character(first17)
