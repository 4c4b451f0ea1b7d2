// The checks the server makes on a submission (api/sync/service.py: _check_item), made on the phone from
// the same pinned template before the manager may submit, with the same words in both languages.
// tests/sync/test_item_rules_shared.py runs one set of cases against both implementations.

import { shownItems } from "./conditions.js";

const g = (n) => String(Number(n));

// No answer: nothing, empty text, or none of the choices (the server's `unanswered`).
export const unanswered = (value) =>
  value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length);

// A calendar day written YYYY-MM-DD (only that form, as on the server).
function isDate(value) {
  const match = typeof value === "string" && /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number);
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day && year >= 1;
}

// One item's problems: [{item, en, zh}]. `answer` is {value, photos: [ids]}; `checkIn` the visit's fix.
export function checkItem(item, answer, checkIn) {
  const key = item.key;
  const value = answer?.value ?? null;
  const photos = answer?.photos || [];
  const problems = [];
  const problem = (en, zh) => problems.push({ item: key, en, zh });

  const pictured = item.type === "photo" || item.type === "signature";
  if (!pictured && photos.length) problem("this item takes no photos", "该检查项不接受照片");
  if (pictured) {
    // A signature is one picture: required means one, and never more.
    const signature = item.type === "signature";
    const most = signature ? 1 : item.max_photos;
    const needed = item.required ? (signature ? 1 : Math.max(item.min_photos || 0, 1)) : 0;
    if (value !== null) problem("a photo item's answer is its photos", "拍照项只需提交照片");
    if (photos.length < needed && !(!item.required && !photos.length)) {
      problem(
        `needs at least ${needed} photo(s), got ${photos.length}`,
        `至少需要 ${needed} 张照片，实际 ${photos.length} 张`,
      );
    }
    if (photos.length > most) problem(`takes at most ${most} photo(s)`, `最多 ${most} 张照片`);
    return problems;
  }
  if (item.type === "location") {
    if (value === null) {
      if (item.required && !checkIn) problem("needs a location (or a check-in fix)", "需要定位（或签到定位）");
      return problems;
    }
    const fine =
      value &&
      typeof value === "object" &&
      [
        ["lat", 90],
        ["lon", 180],
      ].every(([k, limit]) => Number.isFinite(value[k]) && Math.abs(value[k]) <= limit) &&
      Number.isFinite(value.accuracy_m) &&
      value.accuracy_m >= 0;
    if (!fine) problem("must be {lat, lon, accuracy_m} in WGS-84", "须为 WGS-84 的 {lat, lon, accuracy_m}");
    return problems;
  }
  if (unanswered(value)) {
    if (item.required) problem("is required", "为必填项");
    return problems;
  }
  if (item.type === "boolean" && typeof value !== "boolean") problem("must be true or false", "须为是或否");
  else if (item.type === "number" || item.type === "integer") {
    const number = typeof value === "number" && Number.isFinite(value);
    if (!number && item.type === "number") problem("must be a number", "须为数字");
    else if (!number || (item.type === "integer" && !Number.isInteger(value)))
      problem("must be a whole number", "须为整数");
    else if (item.min !== null && item.min !== undefined && value < item.min)
      problem(`must be at least ${g(item.min)}`, `不能小于 ${g(item.min)}`);
    else if (item.max !== null && item.max !== undefined && value > item.max)
      problem(`must be at most ${g(item.max)}`, `不能大于 ${g(item.max)}`);
  } else if (item.type === "multi_choice") {
    const allowed = item.choices.map((choice) => choice.value);
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && allowed.includes(v)))
      problem(`must be some of ${allowed.join(", ")}`, `须为以下选项中的若干项：${allowed.join(", ")}`);
    else if (new Set(value).size !== value.length) problem("lists a choice twice", "有重复的选项");
  } else if (item.type === "date") {
    if (!isDate(value)) problem("must be a date (YYYY-MM-DD)", "须为日期（YYYY-MM-DD）");
  } else if (item.type === "choice") {
    const allowed = item.choices.map((choice) => choice.value);
    if (!allowed.includes(value))
      problem(`must be one of ${allowed.join(", ")}`, `须为以下之一：${allowed.join(", ")}`);
  } else if (item.type === "barcode" && (typeof value !== "string" || value.length > 200)) {
    problem("must be the code read, as text of at most 200 characters", "须为读取到的编码（不超过 200 字）");
  } else if (item.type === "text" && (typeof value !== "string" || value.length > 4000)) {
    problem("must be text of at most 4,000 characters", "须为不超过 4000 字的文字");
  }
  return problems;
}

export function items(definition) {
  return definition.sections.flatMap((section) => section.items);
}

// The items shown for these answers ({key: {value}}): skip logic, as the server reads it.
export function shownFor(definition, answers) {
  return shownItems(
    definition,
    Object.fromEntries(Object.entries(answers).map(([key, answer]) => [key, answer?.value ?? null])),
  );
}

// Every problem of a whole submission body ({answers, check_in}), in the template's order. A hidden item is
// not checked; an answer sent for one is a problem, as on the server.
export function checkSubmission(definition, body) {
  const shown = shownFor(definition, body.answers);
  return items(definition).flatMap((item) => {
    const answer = body.answers[item.key];
    if (shown.has(item.key)) return checkItem(item, answer, body.check_in);
    const sent = answer && (!unanswered(answer.value) || (answer.photos || []).length);
    return sent
      ? [
          {
            item: item.key,
            en: "is hidden by its condition on earlier answers: send no answer for it",
            zh: "该检查项因前面的回答而不显示，不应提交回答",
          },
        ]
      : [];
  });
}
