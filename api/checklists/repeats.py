"""Repeat groups: a section asked once per unit — per member of a declared list (the six machines, by their
serial numbers in the collateral's `identifiers`) or as many times as the manager adds (min–max).

The submission lists its repeats per section (`repeats: {section_key: [member or label, …]}`) and keys the
answers and photos of the n-th repeat `item_key[n]`, n from 1. Everything that reads answers against the
checklist — the submission's checks, skip logic, the rules, the review, the report, the phone — first
*expands* the definition for those repeats: each repeated section becomes one section per repeat, its items
renamed `item_key[n]` and labelled with the unit ("设备 4/6（SN-004）· 铭牌编号"), so a finding reads "machine 4
of 6 (SN-004) · serial: …". A condition inside a repeated section looks at its own repeat's answers. The phone
runs the same expansion (pwa/js/rules/repeats.js); tests/checklists/repeat_cases.json is run through both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from api.checklists.conditions import visible
from api.checklists.schemas import Condition, Definition, Item, RuleKey, Section, Visibility

SLOT = re.compile(r"^(?P<base>[a-z][a-z0-9_]*)\[(?P<n>[1-9][0-9]?)\]$")


def base_key(key: str) -> tuple[str, bool]:
    """The item key an answer key names, and whether it names one repeat of it."""
    match = SLOT.match(key)
    return (match["base"], True) if match else (key, False)


def slot(key: str, n: int) -> str:
    return f"{key}[{n}]"


def _unit(section: Section, n: int, count: int, member: str, english: bool) -> str:
    assert section.repeat is not None
    label = section.repeat.label_en if english else section.repeat.label_zh
    place = f"{label} {n} of {count}" if english else f"{label} {n}/{count}"
    if member:
        place += f" ({member})" if english else f"（{member}）"
    return place


def _rename(visibility: Visibility | None, inside: set[str], n: int) -> Visibility | None:
    if visibility is None:
        return None

    def one(condition: Condition) -> Condition:
        if condition.item not in inside:
            return condition
        return condition.model_copy(update={"item": slot(condition.item, n)})

    return visibility.model_copy(
        update={"all": [one(c) for c in visibility.all], "any": [one(c) for c in visibility.any]}
    )


def _repeated_item(item: Item, section: Section, n: int, members: Sequence[str], inside: set[str]) -> Item:
    member = members[n - 1]
    zh, en = _unit(section, n, len(members), member, False), _unit(section, n, len(members), member, True)
    rule = item.rule
    if rule is not None and rule.key == RuleKey.identifier_match and section.repeat and section.repeat.over:
        # One machine's code is judged against that machine's declared code, not against any of the six.
        rule = rule.model_copy(update={"params": {**rule.params, "member": member}})
    return item.model_copy(
        update={
            "key": slot(item.key, n),
            "label_zh": f"{zh} · {item.label_zh}",
            "label_en": f"{en} · {item.label_en}",
            "visible_if": _rename(item.visible_if, inside, n),
            "rule": rule,
        }
    )


def expand(definition: Definition, repeats: Mapping[str, Sequence[str]] | None) -> Definition:
    """The definition as the submission's repeats make it: no repeated sections left (a repeat section without
    repeats is gone). Built without validation: the keys `item[n]` are not template keys."""
    if not any(section.repeat for section in definition.sections):
        return definition
    sections: list[Section] = []
    for section in definition.sections:
        if section.repeat is None:
            sections.append(section)
            continue
        members = [str(m) for m in (repeats or {}).get(section.key, [])]
        inside = {item.key for item in section.items}
        for n in range(1, len(members) + 1):
            sections.append(
                section.model_copy(
                    update={
                        "key": slot(section.key, n),
                        "title_zh": f"{section.title_zh} · {_unit(section, n, len(members), members[n - 1], False)}",
                        "title_en": f"{section.title_en} · {_unit(section, n, len(members), members[n - 1], True)}",
                        "items": [_repeated_item(i, section, n, members, inside) for i in section.items],
                        "repeat": None,
                    }
                )
            )
    return definition.model_copy(update={"sections": sections})


def declared_members(identifiers: Mapping[str, Any], name: str) -> list[str]:
    """The members of a declared list identifier, in order: a list, or one text of members split by `|`."""
    value = identifiers.get(name)
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    if isinstance(value, str) and value.strip():
        return [part.strip() for part in value.split("|") if part.strip()]
    return []


def repeat_problems(
    definition: Definition, repeats: Mapping[str, Sequence[str]], answers: Mapping[str, Any], shown: set[str]
) -> list[tuple[str, str, str]]:
    """(section key, English, Chinese) for each way the submission's repeats do not fit the checklist. How many
    repeats a manager added must be within min–max; a declared list's members are judged by the rules (a unit
    not inspected is a finding, not a refusal: the back office may have changed the list since the download).
    `definition` is the template's own; `shown` the items shown of its expansion for these repeats."""
    sections = {section.key: section for section in definition.sections}
    problems = []
    for key, members in repeats.items():
        section = sections.get(key)
        if section is None or section.repeat is None:
            problems.append(
                (key, "is not a repeated section of this checklist", "不是本检查清单中可重复的部分")
            )
            continue
        if len(set(members)) != len(members) and section.repeat.over:
            problems.append((key, "lists a unit twice", "同一单元列出两次"))
    for section in definition.sections:
        repeat = section.repeat
        if repeat is None or repeat.over or not visible(section.visible_if, answers, shown):
            continue
        count = len(repeats.get(section.key, []))
        if not repeat.min <= count <= repeat.max:
            problems.append(
                (
                    section.key,
                    f"takes {repeat.min}–{repeat.max} {repeat.label_en.lower()}(s), not {count}",
                    f"须有 {repeat.min}–{repeat.max} 个{repeat.label_zh}，现有 {count} 个",
                )
            )
    return problems
