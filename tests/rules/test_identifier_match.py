"""identifier_match: the code read on site against the collateral's declared identifiers, as a nameplate
and a register both mean it (spaces, dashes, case and full-width characters do not matter)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from api.checklists.schemas import Item
from api.rules.engine import Finding, identifier_match

DECLARED = {"不动产权证号": "沪(2021)浦字不动产权第0123456号", "序列号": "DMU65-2021-0042"}


def _item(**params: Any) -> Item:
    return Item.model_validate(
        {"key": "identifier_read", "type": "barcode", "label_zh": "铭牌编号", "label_en": "Serial",
         "rule": {"key": "identifier_match", "params": params}}
    )  # fmt: skip


@pytest.mark.parametrize(
    "read",
    [
        "DMU65-2021-0042",
        "dmu65 2021 0042",
        "ＤＭＵ６５－２０２１－００４２",
        "沪(2021)浦字不动产权第0123456号",
    ],
)
def test_the_same_code_written_otherwise_matches(read: str) -> None:
    assert identifier_match(item=_item(), observed=read, identifiers=DECLARED) is True


def test_another_code_is_a_finding_naming_both() -> None:
    finding = identifier_match(item=_item(), observed="DMU65-2021-0043", identifiers=DECLARED)
    assert isinstance(finding, Finding) and finding.severity == "major"
    assert "DMU65-2021-0043" in finding.explanation_en and "序列号 DMU65-2021-0042" in finding.explanation_zh


def test_a_named_identifier_is_the_only_one_compared() -> None:
    only_serial = _item(identifier="序列号")
    assert isinstance(
        identifier_match(item=only_serial, observed=DECLARED["不动产权证号"], identifiers=DECLARED), Finding
    )
    assert identifier_match(item=only_serial, observed="DMU65-2021-0042", identifiers=DECLARED) is True


def test_nothing_to_judge_without_a_reading_or_a_declared_identifier() -> None:
    assert identifier_match(item=_item(), observed=None, identifiers=DECLARED) is None
    assert identifier_match(item=_item(), observed="X", identifiers={}) is None


def test_the_rule_needs_a_code_item() -> None:
    with pytest.raises(ValidationError, match="identifier_match needs a barcode or text item"):
        Item.model_validate(
            {
                "key": "n",
                "type": "number",
                "label_zh": "n",
                "label_en": "n",
                "rule": {"key": "identifier_match"},
            }
        )
