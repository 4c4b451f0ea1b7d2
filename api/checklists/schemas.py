"""The shape of a checklist definition, and the API shapes of templates and versions."""

from __future__ import annotations

import enum
import math
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.checklists.models import TemplateVersionBase
from api.db import PUBLIC
from api.portfolio.models import SubjectType


class ItemType(enum.StrEnum):
    boolean = "boolean"
    number = "number"
    choice = "choice"
    text = "text"
    photo = "photo"
    location = "location"
    integer = "integer"  # a count, with its unit (台, 辆, 吨 …)
    date = "date"  # YYYY-MM-DD
    multi_choice = "multi_choice"  # several of the choices
    # A code read from a nameplate or certificate: scanned where the phone can, else typed.
    barcode = "barcode"
    # Drawn on the screen (the borrower's representative acknowledging the visit), kept as one PNG photo of
    # the visit with its own SHA-256.
    signature = "signature"


PHOTO_TYPES = {ItemType.photo, ItemType.signature}


class RuleKey(enum.StrEnum):
    site_distance = "site_distance"
    photo_location = "photo_location"
    photo_time = "photo_time"
    photo_reuse = "photo_reuse"
    value_tolerance = "value_tolerance"
    expected_answer = "expected_answer"
    required_evidence = "required_evidence"
    identifier_match = "identifier_match"


class Severity(enum.StrEnum):
    critical = "critical"
    major = "major"
    minor = "minor"


Key = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
MAX_REPEATS = 50
# An answer's key is at most 64 characters: `item_key[50]` must fit.
MAX_REPEATED_KEY = 60


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choice(Strict):
    value: str = Key
    label_zh: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)


class Condition(Strict):
    """One comparison with an earlier item's answer (api/checklists/conditions.py says how it reads)."""

    item: str = Key
    op: Literal["equals", "not_equals", "one_of", "greater_than", "less_than"]
    value: Any = Field(description="A bool, number or choice value; a list of them for `one_of`.")


class Visibility(Strict):
    all: list[Condition] = Field(default_factory=list, max_length=20, description="Every one must hold.")
    any: list[Condition] = Field(
        default_factory=list, max_length=20, description="When given, one must hold."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Visibility:
        if not self.all and not self.any:
            raise ValueError("visible_if needs at least one condition in `all` or `any`")
        return self

    def conditions(self) -> list[Condition]:
        return [*self.all, *self.any]


class ItemRule(Strict):
    key: RuleKey
    severity: Severity | None = Field(None, description="Defaults to the rule's severity in DESIGN.md.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "value_tolerance: {mode: absolute|relative, tolerance, sides: both|below|above}; "
            "expected_answer: {expected}; site_distance: {max_m, max_accuracy_m}; "
            "photo_location: {max_m}; photo_time: {max_age_hours}; identifier_match: {identifier} (the declared "
            "identifier's name; without it, any of the collateral's identifiers)."
        ),
    )


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _not_negative(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )


# Each rule: the item types it judges, and each parameter it reads with the test its value must pass.
RULE_FITS: dict[RuleKey, tuple[set[ItemType], dict[str, Any]]] = {
    RuleKey.site_distance: ({ItemType.location}, {"max_m": _positive, "max_accuracy_m": _positive}),
    RuleKey.photo_location: ({ItemType.photo}, {"max_m": _positive}),
    RuleKey.photo_time: ({ItemType.photo}, {"max_age_hours": _positive}),
    RuleKey.photo_reuse: ({ItemType.photo}, {}),
    RuleKey.value_tolerance: (
        {ItemType.number, ItemType.integer},
        {
            "mode": lambda v: v in ("absolute", "relative"),
            "tolerance": _not_negative,
            "sides": lambda v: v in ("both", "below", "above"),
        },
    ),
    RuleKey.expected_answer: (
        {ItemType.boolean, ItemType.choice, ItemType.number, ItemType.integer},
        {"expected": lambda v: True},  # checked against the item's possible answers below
    ),
    RuleKey.required_evidence: (
        {ItemType.photo, ItemType.signature},
        {
            "min_photos": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 50,
            "note_required": lambda v: isinstance(v, bool),
        },
    ),
    RuleKey.identifier_match: (
        {ItemType.barcode, ItemType.text},
        {
            "identifier": lambda v: isinstance(v, str) and 0 < len(v) <= 64,
            "member": lambda v: isinstance(v, str),
        },
    ),
}


def _possible_answer(item: Item, value: Any) -> bool:
    if item.type == ItemType.boolean:
        return isinstance(value, bool)
    if item.type == ItemType.choice:
        return isinstance(value, str) and value in {choice.value for choice in item.choices}
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return number and (item.type != ItemType.integer or float(value).is_integer())


def rule_problems(item: Item) -> list[str]:
    """Why the item's rule cannot judge it: the wrong item type, a parameter it does not read, or one whose
    value it cannot use (checked on save and publish, so a rule never fails on site)."""
    rule = item.rule
    if rule is None:
        return []
    types, params = RULE_FITS[rule.key]
    problems = []
    if item.type not in types:
        kinds = ", ".join(sorted(kind.value for kind in types))
        problems.append(f"item {item.key}: {rule.key.value} judges {kinds} items, not {item.type.value}")
    for name, value in rule.params.items():
        test = params.get(name)
        if test is None:
            known = ", ".join(params) or "none"
            problems.append(
                f"item {item.key}: {rule.key.value} has no parameter {name!r} (it reads: {known})"
            )
        elif not test(value):
            problems.append(f"item {item.key}: {rule.key.value}'s {name} cannot be {value!r}")
    if rule.key == RuleKey.expected_answer and "expected" in rule.params and item.type in types:
        expected = rule.params["expected"]
        options = expected if isinstance(expected, list) else [expected]
        if not options or not all(_possible_answer(item, option) for option in options):
            problems.append(f"item {item.key}: expected_answer's {expected!r} is not a possible answer of it")
    return problems


class Item(Strict):
    key: str = Key
    type: ItemType
    label_zh: str = Field(min_length=1, max_length=300)
    label_en: str = Field(min_length=1, max_length=300)
    help_zh: str = Field("", max_length=1000)
    help_en: str = Field("", max_length=1000)
    # Strict: a published template is evidence of what was asked; "1" or true is not a photo count.
    required: bool = Field(True, strict=True)
    unit: str = Field("", max_length=32)
    min: float | None = Field(None, allow_inf_nan=False, strict=True)
    max: float | None = Field(None, allow_inf_nan=False, strict=True)
    choices: list[Choice] = Field(default_factory=list)
    min_photos: int = Field(0, ge=0, le=50, strict=True)
    max_photos: int = Field(10, ge=1, le=50, strict=True)
    binds_to: str | None = Field(
        None, description="Declared field this item is compared with.", max_length=64
    )
    rule: ItemRule | None = None
    visible_if: Visibility | None = Field(
        None,
        description="Skip logic: shown only when this holds on earlier answers; hidden items take no answer.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"item {self.key}: min is above max")
        choosing = self.type in (ItemType.choice, ItemType.multi_choice)
        if choosing and len(self.choices) < 2:
            raise ValueError(f"item {self.key}: a choice item needs at least two choices")
        if not choosing and self.choices:
            raise ValueError(f"item {self.key}: only choice items have choices")
        if (self.min is not None or self.max is not None) and self.type not in (
            ItemType.number,
            ItemType.integer,
        ):
            raise ValueError(f"item {self.key}: only number and integer items have min and max")
        if self.type == ItemType.photo and self.min_photos > self.max_photos:
            raise ValueError(f"item {self.key}: min_photos is above max_photos")
        if self.rule and self.rule.key == RuleKey.value_tolerance:
            if self.type not in (ItemType.number, ItemType.integer) or not self.binds_to:
                raise ValueError(
                    f"item {self.key}: value_tolerance needs a number item bound to a declared field"
                )
            if "tolerance" not in self.rule.params:
                raise ValueError(f"item {self.key}: value_tolerance needs params.tolerance")
        if (
            self.rule
            and self.rule.key == RuleKey.identifier_match
            and self.type
            not in (
                ItemType.barcode,
                ItemType.text,
            )
        ):
            raise ValueError(f"item {self.key}: identifier_match needs a barcode or text item")
        if self.rule and self.rule.key == RuleKey.expected_answer and "expected" not in self.rule.params:
            raise ValueError(f"item {self.key}: expected_answer needs params.expected")
        problems = rule_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Repeat(Strict):
    """A section asked once per unit (api/checklists/repeats.py says how answers are keyed)."""

    over: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\s|][^|]*$",
        description=(
            "The name of the collateral's declared identifier that lists its units (e.g. `设备序列号` = "
            "`DMU65-0457|DMU65-0458|…`, or a JSON list): one repeat per member, in the declared order. Without "
            "it, the manager adds as many as `min`–`max`."
        ),
    )
    min: int = Field(0, ge=0, le=MAX_REPEATS, strict=True)
    max: int = Field(10, ge=1, le=MAX_REPEATS, strict=True)
    label_zh: str = Field("单元", min_length=1, max_length=40, description="What one repeat is, e.g. 设备.")
    label_en: str = Field(
        "Unit", min_length=1, max_length=40, description="What one repeat is, e.g. Machine."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Repeat:
        if self.min > self.max:
            raise ValueError("repeat: min is above max")
        return self


class Section(Strict):
    key: str = Key
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    items: list[Item] = Field(min_length=1, max_length=200)
    visible_if: Visibility | None = Field(
        None, description="Skip logic for the whole section, on answers in earlier sections."
    )
    repeat: Repeat | None = Field(
        None,
        description=(
            "Asked once per unit. Answers and photos of the n-th repeat are keyed `item_key[n]` (n from 1) and "
            "the submission lists the repeats in `repeats`."
        ),
    )

    @model_validator(mode="after")
    def _repeat_keys_fit(self) -> Section:
        if self.repeat is not None:
            long = [item.key for item in self.items if len(item.key) > MAX_REPEATED_KEY]
            if long:
                raise ValueError(
                    f"section {self.key}: keys of repeated items are at most {MAX_REPEATED_KEY} characters: "
                    + ", ".join(long)
                )
        return self


CONDITION_SOURCES = {"boolean", "number", "integer", "choice"}


def _check_condition(condition: Condition, earlier: dict[str, Item], where: str) -> None:
    source = earlier.get(condition.item)
    if source is None:
        raise ValueError(f"{where}: visible_if refers to {condition.item!r}, which is not an earlier item")
    if source.type not in CONDITION_SOURCES:
        raise ValueError(f"{where}: visible_if can only look at yes/no, number, integer and choice items")
    values = condition.value if condition.op == "one_of" else [condition.value]
    if condition.op == "one_of" and (not isinstance(condition.value, list) or not condition.value):
        raise ValueError(f"{where}: one_of needs a non-empty list")
    if condition.op in ("greater_than", "less_than") and source.type not in (
        ItemType.number,
        ItemType.integer,
    ):
        raise ValueError(f"{where}: {condition.op} needs a number item")
    for value in values:
        fits = {
            ItemType.boolean: isinstance(value, bool),
            ItemType.number: isinstance(value, int | float) and not isinstance(value, bool),
            ItemType.integer: isinstance(value, int | float) and not isinstance(value, bool),
            ItemType.choice: isinstance(value, str) and value in [choice.value for choice in source.choices],
        }[source.type]
        if not fits:
            raise ValueError(f"{where}: {value!r} is not a possible answer of {condition.item!r}")


class Definition(Strict):
    sections: list[Section] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _unique_keys(self) -> Definition:
        seen: set[str] = set()
        for section in self.sections:
            for item in section.items:
                if item.key in seen:
                    raise ValueError(f"item key {item.key!r} is used twice")
                seen.add(item.key)
        return self

    @model_validator(mode="after")
    def _conditions_look_back(self) -> Definition:
        """Every condition refers to an item before it (a section's: in an earlier section), and compares
        with a value that item can take."""
        earlier: dict[str, Item] = {}
        for section in self.sections:
            for condition in section.visible_if.conditions() if section.visible_if else []:
                _check_condition(condition, earlier, f"section {section.key}")
            in_section = dict(earlier)
            for item in section.items:
                for condition in item.visible_if.conditions() if item.visible_if else []:
                    _check_condition(condition, in_section, f"item {item.key}")
                in_section[item.key] = item
            # A repeated item has one answer per repeat: only its own repeat's items may look at it.
            if section.repeat is None:
                earlier = in_section
        return self

    @model_validator(mode="after")
    def _rules_fit_repeats(self) -> Definition:
        for section in self.sections:
            for item in section.items:
                if item.rule and item.rule.key == RuleKey.site_distance and section.repeat is not None:
                    raise ValueError(f"item {item.key}: the check-in (site_distance) cannot be repeated")
        return self

    def item_for(self, key: str) -> Item | None:
        """The item an answer key names: `item_key`, or `item_key[n]` for a repeated one."""
        from api.checklists.repeats import base_key

        base, repeated = base_key(key)
        for section in self.sections:
            for item in section.items:
                if item.key == base:
                    return item if repeated == (section.repeat is not None) else None
        return None

    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]


class DefinitionSummary(BaseModel):
    sections: int
    items: int
    repeated_sections: int
    with_conditions: int
    with_rules: int


class TemplateCreate(Strict):
    code: str = Key
    subject_type: SubjectType
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    definition: Definition


class DraftUpdate(Strict):
    definition: Definition


class VersionSummary(TemplateVersionBase):
    model_config = PUBLIC

    id: uuid.UUID


class TemplateVersionPublic(VersionSummary):
    template_id: uuid.UUID
    code: str
    subject_type: SubjectType
    name_zh: str
    name_en: str
    definition: Definition


class TemplatePublic(BaseModel):
    id: uuid.UUID
    code: str
    subject_type: SubjectType
    name_zh: str
    name_en: str
    versions: list[VersionSummary]
