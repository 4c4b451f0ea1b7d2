from __future__ import annotations

import pytest

from api.portfolio.credit_code import complete, credit_code_problem


@pytest.mark.parametrize(
    "code",
    # Published codes of well-known companies (from their business licences).
    ["91350100M000100Y43", "91110000100017643K", "91440300708461136T"],
)
def test_real_codes_pass(code: str) -> None:
    assert credit_code_problem(code) is None


def test_a_changed_character_breaks_the_check_digit() -> None:
    code = "91350100M000100Y43"
    assert credit_code_problem(code[:-1] + "4") == "check digit does not match"


@pytest.mark.parametrize(
    "code, problem",
    [("9135010", "must be 18 characters"), ("91350100M000100I43", "contains characters outside")],
)
def test_malformed_codes_are_explained(code: str, problem: str) -> None:
    assert (credit_code_problem(code) or "").startswith(problem)


def test_complete_appends_the_right_check_character() -> None:
    assert complete("91350100M000100Y4") == "91350100M000100Y43"
