// Skip logic: whether an item or a section is shown, from the answers to earlier items. The server runs the
// same rules (api/checklists/conditions.py); tests/checklists/condition_cases.json is run through both.
// An item without an answer, or hidden itself, makes every comparison false; `visible_if` holds when all of
// `all` hold and, if `any` is given, one of `any`; an item is shown when its section is and its own holds.

const number = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

// Equal as JSON says: numbers by value, anything else only with its own kind (true is not 1).
function same(answer, value) {
  if (number(answer) !== null && number(value) !== null) return answer === value;
  return typeof answer === typeof value && answer === value;
}

function holds(condition, answers, shown) {
  if (!shown.has(condition.item)) return false;
  const answer = answers[condition.item];
  if (answer === undefined || answer === null || answer === "") return false;
  switch (condition.op) {
    case "equals":
      return same(answer, condition.value);
    case "not_equals":
      return !same(answer, condition.value);
    case "one_of":
      return condition.value.some((option) => same(answer, option));
    default: {
      const a = number(answer);
      const b = number(condition.value);
      if (a === null || b === null) return false;
      return condition.op === "greater_than" ? a > b : a < b;
    }
  }
}

export function visible(visibility, answers, shown) {
  if (!visibility) return true;
  if (!(visibility.all || []).every((c) => holds(c, answers, shown))) return false;
  const any = visibility.any || [];
  return !any.length || any.some((c) => holds(c, answers, shown));
}

// The keys of the items shown, given `answers` (item key → value), in one pass in template order.
export function shownItems(definition, answers) {
  const shown = new Set();
  for (const section of definition.sections) {
    if (!visible(section.visible_if, answers, shown)) continue;
    for (const item of section.items) if (visible(item.visible_if, answers, shown)) shown.add(item.key);
  }
  return shown;
}
