// Repeat groups, as the server reads them (api/checklists/repeats.py; tests/checklists/repeat_cases.json is
// run through both). A repeated section is asked once per unit: per member of a declared list (the
// collateral's identifier named by `repeat.over`) or as many times as the manager adds (min–max). The n-th
// repeat's answers and photos are keyed `item_key[n]`; `expand` turns the definition into one section per
// repeat, so every other check (skip logic, the template's rules, the form) works on it unchanged.

const SLOT = /^([a-z][a-z0-9_]*)\[([1-9][0-9]?)\]$/;

export const slot = (key, n) => `${key}[${n}]`;

// [item or section key, which repeat it names (1…) or 0 for none]
export function baseKey(key) {
  const match = SLOT.exec(key);
  return match ? [match[1], Number(match[2])] : [key, 0];
}

function unit(section, n, count, member, english) {
  const label = english ? section.repeat.label_en : section.repeat.label_zh;
  let place = english ? `${label} ${n} of ${count}` : `${label} ${n}/${count}`;
  if (member) place += english ? ` (${member})` : `（${member}）`;
  return place;
}

function rename(visibility, inside, n) {
  if (!visibility) return visibility ?? null;
  const one = (c) => (inside.has(c.item) ? { ...c, item: slot(c.item, n) } : c);
  return { ...visibility, all: (visibility.all || []).map(one), any: (visibility.any || []).map(one) };
}

export function expand(definition, repeats) {
  if (!definition.sections.some((section) => section.repeat)) return definition;
  const sections = [];
  for (const section of definition.sections) {
    if (!section.repeat) {
      sections.push(section);
      continue;
    }
    const members = ((repeats || {})[section.key] || []).map(String);
    const inside = new Set(section.items.map((item) => item.key));
    members.forEach((member, index) => {
      const n = index + 1,
        zh = unit(section, n, members.length, member, false),
        en = unit(section, n, members.length, member, true);
      sections.push({
        ...section,
        key: slot(section.key, n),
        title_zh: `${section.title_zh} · ${zh}`,
        title_en: `${section.title_en} · ${en}`,
        repeat: null,
        items: section.items.map((item) => {
          let rule = item.rule;
          if (rule && rule.key === "identifier_match" && section.repeat.over)
            rule = { ...rule, params: { ...rule.params, member } };
          return {
            ...item,
            key: slot(item.key, n),
            label_zh: `${zh} · ${item.label_zh}`,
            label_en: `${en} · ${item.label_en}`,
            visible_if: rename(item.visible_if, inside, n),
            rule: rule ?? null,
            // The phone's display only (not in the server's expansion): the unit the label starts with.
            unit_of: { zh: `${zh} · `, en: `${en} · ` },
          };
        }),
      });
    });
  }
  return { ...definition, sections };
}

// The members of a declared list identifier, in order: a list, or one text of members split by "|".
export function declaredMembers(identifiers, name) {
  const value = (identifiers || {})[name];
  if (Array.isArray(value)) return value.map(String).filter((v) => v.trim());
  if (typeof value === "string")
    return value
      .split("|")
      .map((part) => part.trim())
      .filter(Boolean);
  return [];
}
