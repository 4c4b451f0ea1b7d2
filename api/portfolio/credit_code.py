"""Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters, the last a check digit."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
VALUE = {char: n for n, char in enumerate(ALPHABET)}


def check_character(first17: str) -> str:
    total = sum(VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """None when valid, else why not (in English; callers translate)."""
    if len(code) != 18:
        return "must be 18 characters"
    bad = [char for char in code if char not in VALUE]
    if bad:
        return f"contains characters outside GB 32100-2015: {''.join(sorted(set(bad)))}"
    if check_character(code[:17]) != code[17]:
        return "check digit does not match"
    return None


def complete(first17: str) -> str:
    """Append the check character (used by the demo data and tests)."""
    return first17 + check_character(first17)
