"""Skip logic: whether an item or a section is shown, from the answers to earlier items.

The phone runs the same rules (pwa/js/rules/conditions.js); tests/checklists/condition_cases.json is run
through both. The rules, kept small so both read the same:
- a condition compares one earlier item's answer: `equals`, `not_equals`, `one_of` (a list), `greater_than`,
  `less_than` (numbers only; a boolean is not a number);
- an item without an answer, or hidden itself, makes every comparison false (`not_equals` too: "not
  answered" is not "answered otherwise");
- `visible_if` holds when all of `all` hold and, if `any` is given, at least one of `any`;
- an item is shown when its section is shown and its own `visible_if` holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.checklists.schemas import Condition, Definition, Visibility


def answer_number(value: Any) -> float | None:
    """An answer as a number, when it is one: JSON's numbers only (a boolean is not a number), finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def unanswered(value: Any) -> bool:
    """No answer: nothing, empty text, or none of the choices."""
    return value is None or value == "" or value == []


def _same(answer: Any, value: Any) -> bool:
    """Equal as JSON says: numbers by value (5 == 5.0), anything else only with its own kind (true is not 1)."""
    a, b = answer_number(answer), answer_number(value)
    if a is not None and b is not None:
        return a == b
    return type(answer) is type(value) and bool(answer == value)


def holds(condition: Condition, answers: Mapping[str, Any], shown: set[str]) -> bool:
    if condition.item not in shown:
        return False
    answer = answers.get(condition.item)
    if answer is None or answer == "":
        return False
    if condition.op == "equals":
        return _same(answer, condition.value)
    if condition.op == "not_equals":
        return not _same(answer, condition.value)
    if condition.op == "one_of":
        return any(_same(answer, option) for option in condition.value)
    number, bound = answer_number(answer), answer_number(condition.value)
    if number is None or bound is None:
        return False
    return number > bound if condition.op == "greater_than" else number < bound


def visible(visibility: Visibility | None, answers: Mapping[str, Any], shown: set[str]) -> bool:
    if visibility is None:
        return True
    if not all(holds(c, answers, shown) for c in visibility.all):
        return False
    return not visibility.any or any(holds(c, answers, shown) for c in visibility.any)


def shown_items(definition: Definition, answers: Mapping[str, Any]) -> set[str]:
    """The keys of the items shown, given `answers` (item key → value), in one pass in template order."""
    shown: set[str] = set()
    for section in definition.sections:
        if not visible(section.visible_if, answers, shown):
            continue
        for item in section.items:
            if visible(item.visible_if, answers, shown):
                shown.add(item.key)
    return shown
