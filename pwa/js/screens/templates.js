// The admin's template builder (desktop): templates and their versions; a template built section by section
// and item by item — conditions, repeats, rules — checked by the server as it is typed (the same checks as
// saving and publishing), previewed in a phone-sized frame as the manager will see it, saved as a draft,
// published; and imported from or exported to JSON.
import { HttpError, json } from "../core/api.js";
import { busyButton, field, h } from "../core/dom.js";
import { date, pick, t } from "../core/i18n.js";
import { renderVisit } from "./visit.js";

const TYPES = [
  "boolean",
  "choice",
  "multi_choice",
  "number",
  "integer",
  "text",
  "date",
  "barcode",
  "photo",
  "signature",
  "location",
];
// Which rules judge which item types (api/checklists/schemas.py RULE_FITS says the same, and refuses the rest).
const RULES = {
  site_distance: ["location"],
  photo_location: ["photo"],
  photo_time: ["photo"],
  photo_reuse: ["photo"],
  value_tolerance: ["number", "integer"],
  expected_answer: ["boolean", "choice", "number", "integer"],
  required_evidence: ["photo", "signature"],
  identifier_match: ["barcode", "text"],
};
const CONDITION_SOURCES = ["boolean", "number", "integer", "choice"];
const OPS = ["equals", "not_equals", "one_of", "greater_than", "less_than"];
const IMPORTED = "fieldvisit-template-import";
const SAID = "fieldvisit-template-said";

const blankItem = (n) => ({
  key: `item_${n}`,
  type: "boolean",
  label_zh: `检查项 ${n}`,
  label_en: `Item ${n}`,
  required: true,
});

const blankDefinition = () => ({
  sections: [
    {
      key: "site",
      title_zh: "现场核实",
      title_en: "On site",
      items: [
        {
          key: "check_in",
          type: "location",
          label_zh: "签到定位",
          label_en: "Check-in location",
          rule: { key: "site_distance", params: {} },
        },
      ],
    },
  ],
});

function download(name, text) {
  const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

async function readJsonFile(input) {
  const file = input.files?.[0];
  if (!file) return null;
  return JSON.parse(await file.text());
}

// What a file may hold: a whole template (as exported) or just a definition.
function fromJson(data) {
  if (data && Array.isArray(data.sections)) return { definition: data };
  if (data && data.definition && Array.isArray(data.definition.sections)) return data;
  throw new Error(t("notATemplate"));
}

export async function renderTemplates(present) {
  const templates = await json("/api/v1/templates");
  const importInput = h("input", {
    type: "file",
    accept: "application/json,.json",
    "aria-label": t("importJson"),
    class: "sr",
    onchange: async () => {
      try {
        sessionStorage.setItem(IMPORTED, JSON.stringify(fromJson(await readJsonFile(importInput))));
        location.hash = "#/templates/new";
      } catch (e) {
        problem.textContent = e.message || t("notATemplate");
      }
    },
  });
  const problem = h("p", { class: "error", role: "alert" });
  const rows = templates.map((template) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/templates/${template.id}`, text: pick(template, "name") })),
      h("td", { text: template.code }),
      h("td", { text: t(`subject.${template.subject_type}`) }),
      h(
        "td",
        {},
        template.versions
          .map(
            (v) => `v${v.version} ${t(`versionStatus.${v.status}`)}${v.published_at ? ` ${date(v.published_at)}` : ""}`,
          )
          .join("；"),
      ),
    ),
  );
  present(
    h("h1", { text: t("templates") }),
    h(
      "div",
      { class: "row" },
      h("a", { class: "button", href: "#/templates/new", text: t("newTemplate") }),
      h("label", { class: "button secondary" }, t("importJson"), importInput),
    ),
    problem,
    h(
      "table",
      { class: "card" },
      h(
        "thead",
        {},
        h("tr", {}, ...["templateName", "code", "subjectType", "versions"].map((k) => h("th", { text: t(k) }))),
      ),
      h("tbody", {}, rows),
    ),
  );
}

// Loads what the editor starts from: a saved template's newest version, an imported file, or a blank one.
async function startingPoint(id) {
  if (id === "new") {
    const imported = sessionStorage.getItem(IMPORTED);
    sessionStorage.removeItem(IMPORTED);
    const base = { code: "", subject_type: "collateral", name_zh: "", name_en: "", definition: blankDefinition() };
    return { template: null, state: imported ? { ...base, ...JSON.parse(imported) } : base };
  }
  const template = await json(`/api/v1/templates/${id}`);
  const newest = template.versions.at(-1);
  const version = await json(`/api/v1/template-versions/${newest.id}`);
  return {
    template,
    state: {
      code: template.code,
      subject_type: template.subject_type,
      name_zh: template.name_zh,
      name_en: template.name_en,
      definition: version.definition,
    },
  };
}

// Pydantic's error locations, as the admin reads them: "Section 2 · item 3 (crane_ok)".
function placeOf(fieldPath, definition) {
  const parts = fieldPath.split(".");
  const at = parts.indexOf("sections");
  if (at < 0) return "";
  const s = Number(parts[at + 1]);
  const section = definition.sections[s];
  let place = `${t("section")} ${s + 1}${section?.key ? ` (${section.key})` : ""}`;
  if (parts[at + 2] === "items") {
    const i = Number(parts[at + 3]);
    const item = section?.items?.[i];
    place += ` · ${t("item")} ${i + 1}${item?.key ? ` (${item.key})` : ""}`;
  }
  return place;
}

const cleanMessage = (message) => message.replace(/^Value error, /, "");

export async function renderTemplateEditor(id, present) {
  const { template, state } = await startingPoint(id);
  const isNew = !template;
  const editor = h("div", { class: "builder" });
  const checkLine = h("div", { role: "status", class: "check" });
  const frame = h("div", { class: "phone-frame", role: "region", "aria-label": t("previewPhone") });
  const frameNote = h("p", { class: "muted" });
  const status = h("p", { role: "status", text: sessionStorage.getItem(SAID) || "" });
  sessionStorage.removeItem(SAID);
  let lastValid = null;

  // ---- checking and the preview, a moment after each change ----
  let timer = null;
  let checks = 0;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  };
  async function check() {
    const turn = ++checks;
    try {
      const summary = await json("/api/v1/template-checks", { method: "POST", body: { definition: state.definition } });
      if (turn !== checks) return;
      checkLine.className = "check ok";
      checkLine.replaceChildren(t("definitionOk", summary));
      lastValid = JSON.parse(JSON.stringify(state.definition));
      await paintPreview(lastValid);
      frameNote.textContent = "";
    } catch (e) {
      if (turn !== checks) return;
      if (!(e instanceof HttpError)) {
        checkLine.className = "check";
        checkLine.textContent = t("networkError");
        return;
      }
      const errors = e.problem?.errors || [];
      checkLine.className = "check bad";
      checkLine.replaceChildren(
        h("strong", { text: t("definitionProblems", { n: errors.length || 1 }) }),
        h(
          "ul",
          {},
          (errors.length ? errors : [{ field: "", message: e.message }]).map((error) =>
            h("li", {
              text: [placeOf(error.field, state.definition), cleanMessage(error.message)].filter(Boolean).join(": "),
            }),
          ),
        ),
      );
      if (lastValid) frameNote.textContent = t("previewStale");
    }
  }

  async function paintPreview(definition) {
    const entry = {
      visit: {
        id: "preview",
        status: "scheduled",
        due_on: new Date().toISOString().slice(0, 10),
        borrower: { name: state.name_zh || t("previewBorrower"), address: "" },
        declared: [],
        collateral: { identifiers: {} },
        template_version: { definition },
      },
    };
    await renderVisit("preview", (...nodes) => frame.replaceChildren(...nodes.filter(Boolean)), { entry });
  }

  // ---- the form: rebuilt on every change of shape, text typed in place ----
  const text = (label, object, key, attrs = {}) => {
    const input = h("input", { value: object[key] ?? "", ...attrs });
    input.addEventListener("input", () => {
      object[key] = input.value;
      changed();
    });
    return field(label, input);
  };
  const number = (label, object, key, { integer = false } = {}) => {
    const input = h("input", { type: "number", step: integer ? "1" : "any", value: object[key] ?? "" });
    input.addEventListener("input", () => {
      if (input.value === "") delete object[key];
      else object[key] = integer ? parseInt(input.value, 10) : Number(input.value);
      changed();
    });
    return field(label, input);
  };
  const check_ = (label, object, key, fallback) => {
    const box = h("input", { type: "checkbox" });
    box.checked = object[key] ?? fallback;
    box.addEventListener("change", () => {
      object[key] = box.checked;
      changed();
    });
    return h("label", { class: "inline" }, box, ` ${label}`);
  };
  const select = (label, options, current, onPick) => {
    const control = h(
      "select",
      { "aria-label": label }, // its name is the label alone, not the label and the chosen option
      options.map(([value, name]) => h("option", { value, text: name, selected: value === current })),
    );
    control.addEventListener("change", () => onPick(control.value));
    return field(label, control);
  };
  const tools = (list, index, what) =>
    h(
      "div",
      { class: "row tools" },
      h("button", {
        type: "button",
        class: "secondary",
        text: "↑",
        "aria-label": `${t("moveUp")} ${what}`,
        disabled: index === 0,
        onclick: () => {
          [list[index - 1], list[index]] = [list[index], list[index - 1]];
          paint();
        },
      }),
      h("button", {
        type: "button",
        class: "secondary",
        text: "↓",
        "aria-label": `${t("moveDown")} ${what}`,
        disabled: index === list.length - 1,
        onclick: () => {
          [list[index + 1], list[index]] = [list[index], list[index + 1]];
          paint();
        },
      }),
      h("button", {
        type: "button",
        class: "secondary",
        text: "✕",
        "aria-label": `${t("removeThis")} ${what}`,
        onclick: () => {
          list.splice(index, 1);
          paint();
        },
      }),
    );

  // A condition's value, typed as text: yes/no, a number, a choice's value; "a, b" for one_of.
  const parseValue = (raw, op, source) => {
    const one = (v) => {
      const s = v.trim();
      if (source?.type === "boolean") return s === "true" || s === t("yes") || s === "是";
      if (source && source.type !== "choice" && s !== "" && !Number.isNaN(Number(s))) return Number(s);
      return s;
    };
    return op === "one_of"
      ? raw
          .split(/[,，、]/)
          .filter((v) => v.trim())
          .map(one)
      : one(raw);
  };
  const showValue = (value) => (Array.isArray(value) ? value.join(", ") : value === undefined ? "" : String(value));

  function conditions(owner, earlier, what) {
    const visibility = owner.visible_if || { all: [] };
    const useAny = Boolean(visibility.any?.length);
    const list = useAny ? visibility.any : visibility.all || [];
    const sources = earlier.filter((item) => CONDITION_SOURCES.includes(item.type));
    const box = h("fieldset", { class: "conditions" }, h("legend", { text: `${t("shownWhen")} (${what})` }));
    list.forEach((condition, index) => {
      const source = sources.find((item) => item.key === condition.item);
      const value = h("input", {
        value: showValue(condition.value),
        "aria-label": `${t("conditionValue")} ${index + 1}`,
      });
      value.addEventListener("input", () => {
        condition.value = parseValue(value.value, condition.op, source);
        changed();
      });
      box.append(
        h(
          "div",
          { class: "row" },
          select(
            t("conditionItem"),
            [["", "—"], ...sources.map((item) => [item.key, `${item.key} · ${pick(item)}`])],
            condition.item,
            (v) => {
              condition.item = v;
              paint();
            },
          ),
          select(
            t("conditionOp"),
            OPS.map((op) => [op, t(`op.${op}`)]),
            condition.op,
            (v) => {
              condition.op = v;
              condition.value = parseValue(showValue(condition.value), v, source);
              changed();
            },
          ),
          field(t("conditionValue"), value),
          h("button", {
            type: "button",
            class: "secondary",
            text: "✕",
            "aria-label": `${t("removeThis")} ${t("condition")} ${index + 1}`,
            onclick: () => {
              list.splice(index, 1);
              if (!list.length) delete owner.visible_if;
              paint();
            },
          }),
        ),
      );
    });
    const any = h("input", { type: "checkbox", checked: useAny, disabled: list.length < 2 && !useAny });
    any.addEventListener("change", () => {
      owner.visible_if = any.checked ? { all: [], any: list } : { all: list };
      paint();
    });
    box.append(
      h(
        "div",
        { class: "row" },
        h("button", {
          type: "button",
          class: "secondary",
          text: t("addCondition"),
          disabled: !sources.length,
          onclick: () => {
            owner.visible_if ||= { all: [] };
            const target = owner.visible_if.any?.length ? owner.visible_if.any : (owner.visible_if.all ||= []);
            target.push({
              item: sources.at(-1).key,
              op: "equals",
              value: sources.at(-1).type === "boolean" ? true : "",
            });
            paint();
          },
        }),
        h("label", { class: "inline" }, any, ` ${t("anyCondition")}`),
      ),
    );
    return box;
  }

  function itemCard(section, item, index, earlier) {
    const what = `${t("item")} ${index + 1}`;
    const card = h("div", { class: "builder-item", "data-key": item.key });
    const rules = Object.entries(RULES).filter(([, types]) => types.includes(item.type));
    const paramsInput = h("input", {
      value: JSON.stringify(item.rule?.params || {}),
      "aria-label": `${t("ruleParams")} (${item.key})`,
      disabled: !item.rule,
    });
    paramsInput.addEventListener("input", () => {
      try {
        item.rule.params = JSON.parse(paramsInput.value || "{}");
        paramsInput.removeAttribute("aria-invalid");
        changed();
      } catch {
        paramsInput.setAttribute("aria-invalid", "true");
      }
    });
    card.replaceChildren(
      ...[
        h("h3", { text: `${what} · ${pick(item) || item.key}` }),
        h(
          "div",
          { class: "grid" },
          text(t("key"), item, "key", { pattern: "[a-z][a-z0-9_]*" }),
          select(
            t("type"),
            TYPES.map((type) => [type, t(`itemType.${type}`)]),
            item.type,
            (v) => {
              item.type = v;
              if (item.rule && !RULES[item.rule.key].includes(v)) delete item.rule;
              if (["choice", "multi_choice"].includes(v) && !(item.choices || []).length)
                item.choices = [
                  { value: "a", label_zh: "选项一", label_en: "Option one" },
                  { value: "b", label_zh: "选项二", label_en: "Option two" },
                ];
              if (!["choice", "multi_choice"].includes(v)) delete item.choices;
              if (!["number", "integer"].includes(v)) (delete item.min, delete item.max);
              paint();
            },
          ),
          text(t("labelZh"), item, "label_zh"),
          text(t("labelEn"), item, "label_en"),
          text(t("helpZh"), item, "help_zh"),
          text(t("helpEn"), item, "help_en"),
          check_(t("requiredItem"), item, "required", true),
          ["number", "integer"].includes(item.type) ? text(t("unit"), item, "unit") : null,
          ["number", "integer"].includes(item.type) ? number(t("minValue"), item, "min") : null,
          ["number", "integer"].includes(item.type) ? number(t("maxValue"), item, "max") : null,
          ["number", "integer"].includes(item.type) ? text(t("bindsTo"), item, "binds_to") : null,
          item.type === "photo" ? number(t("minPhotos"), item, "min_photos", { integer: true }) : null,
          item.type === "photo" ? number(t("maxPhotos"), item, "max_photos", { integer: true }) : null,
        ),
        ["choice", "multi_choice"].includes(item.type) ? choicesField(item) : null,
        h(
          "div",
          { class: "grid" },
          select(
            t("rule"),
            [["", t("noRule")], ...rules.map(([key]) => [key, t(`ruleName.${key}`)])],
            item.rule?.key || "",
            (v) => {
              if (!v) delete item.rule;
              else item.rule = { key: v, params: v === "expected_answer" ? { expected: true } : {} };
              paint();
            },
          ),
          item.rule
            ? select(
                t("severityLabel"),
                [["", t("defaultSeverity")], ...["critical", "major", "minor"].map((s) => [s, t(`severity.${s}`)])],
                item.rule.severity || "",
                (v) => {
                  if (v) item.rule.severity = v;
                  else delete item.rule.severity;
                  changed();
                },
              )
            : null,
          item.rule ? field(t("ruleParams"), paramsInput) : null,
        ),
        conditions(item, earlier, what),
        tools(section.items, index, what),
      ].filter(Boolean), // DOM's append would write a missing part as the text "null"
    );
    return card;
  }

  // Choices as lines "value|中文|English".
  function choicesField(item) {
    const area = h("textarea", { rows: String(Math.max(2, item.choices.length)) });
    area.value = item.choices.map((c) => `${c.value}|${c.label_zh}|${c.label_en}`).join("\n");
    area.addEventListener("input", () => {
      item.choices = area.value
        .split("\n")
        .filter((line) => line.trim())
        .map((line) => {
          const [value, zh, en] = line.split("|").map((part) => part.trim());
          return { value, label_zh: zh || value, label_en: en || zh || value };
        });
      changed();
    });
    return field(t("choicesLines"), area);
  }

  function repeatFields(section) {
    const kind = !section.repeat
      ? ""
      : section.repeat.over !== undefined && section.repeat.over !== null
        ? "over"
        : "added";
    const box = h(
      "div",
      { class: "grid" },
      select(
        t("repeatKind"),
        [
          ["", t("repeatNone")],
          ["over", t("repeatOver")],
          ["added", t("repeatAdded")],
        ],
        kind,
        (v) => {
          if (!v) delete section.repeat;
          else if (v === "over") section.repeat = { over: "", label_zh: "设备", label_en: "Machine" };
          else section.repeat = { min: 1, max: 5, label_zh: "单元", label_en: "Unit" };
          paint();
        },
      ),
    );
    if (kind === "over") box.append(text(t("repeatOverName"), section.repeat, "over"));
    if (kind === "added")
      box.append(
        number(t("repeatMin"), section.repeat, "min", { integer: true }),
        number(t("repeatMax"), section.repeat, "max", { integer: true }),
      );
    if (kind)
      box.append(
        text(t("repeatLabelZh"), section.repeat, "label_zh"),
        text(t("repeatLabelEn"), section.repeat, "label_en"),
      );
    return box;
  }

  function paint() {
    const sections = state.definition.sections;
    let earlier = [];
    const cards = sections.map((section, s) => {
      const what = `${t("section")} ${s + 1}`;
      const before = earlier;
      const inSection = [...before];
      const card = h(
        "section",
        { class: "card builder-section", "data-key": section.key },
        h("h2", { text: `${what} · ${pick(section, "title") || section.key}` }),
        h(
          "div",
          { class: "grid" },
          text(t("key"), section, "key", { pattern: "[a-z][a-z0-9_]*" }),
          text(t("titleZh"), section, "title_zh"),
          text(t("titleEn"), section, "title_en"),
        ),
        repeatFields(section),
        conditions(section, before, what),
        ...section.items.map((item, i) => {
          const node = itemCard(section, item, i, [...inSection]);
          inSection.push(item);
          return node;
        }),
        h(
          "div",
          { class: "row" },
          h("button", {
            type: "button",
            text: t("addItem"),
            onclick: () => {
              section.items.push(blankItem(section.items.length + 1));
              paint();
            },
          }),
        ),
        tools(sections, s, what),
      );
      // Items of a repeated section are one per repeat: nothing after it may look at them.
      if (!section.repeat) earlier = inSection;
      return card;
    });
    editor.replaceChildren(
      ...cards,
      h("button", {
        type: "button",
        text: t("addSection"),
        onclick: () => {
          const n = sections.length + 1;
          sections.push({
            key: `section_${n}`,
            title_zh: `第 ${n} 部分`,
            title_en: `Part ${n}`,
            items: [blankItem(1)],
          });
          paint();
        },
      }),
    );
    changed();
  }

  // ---- saving, publishing, JSON ----
  async function save() {
    if (isNew) return json("/api/v1/templates", { method: "POST", body: state });
    return json(`/api/v1/templates/${template.id}/draft`, { method: "PUT", body: { definition: state.definition } });
  }
  // A new template, once saved, is edited at its own address: the message waits for that page.
  const done = (version, message) => {
    if (!isNew) {
      status.textContent = message;
      return;
    }
    sessionStorage.setItem(SAID, message);
    location.hash = `#/templates/${version.template_id}`;
  };
  const guarded = (work) => async () => {
    try {
      await work();
    } catch (e) {
      status.textContent = e instanceof HttpError ? e.message : t("networkError");
      if (e instanceof HttpError) check();
    }
  };
  const importInput = h("input", {
    type: "file",
    accept: "application/json,.json",
    class: "sr",
    "aria-label": t("importJson"),
    onchange: async () => {
      try {
        const data = fromJson(await readJsonFile(importInput));
        state.definition = data.definition;
        for (const key of ["name_zh", "name_en"]) if (data[key]) state[key] = data[key];
        if (isNew) for (const key of ["code", "subject_type"]) if (data[key]) state[key] = data[key];
        paint();
      } catch (e) {
        status.textContent = e.message || t("notATemplate");
      }
    },
  });
  const head = h(
    "section",
    { class: "card" },
    h("h1", { text: isNew ? t("newTemplate") : `${t("editTemplate")} · ${pick(template, "name")}` }),
    h(
      "div",
      { class: "grid" },
      isNew ? text(t("code"), state, "code", { pattern: "[a-z][a-z0-9_]*" }) : null,
      isNew
        ? select(
            t("subjectType"),
            ["collateral", "project"].map((k) => [k, t(`subject.${k}`)]),
            state.subject_type,
            (v) => (state.subject_type = v),
          )
        : null,
      text(t("nameZh"), state, "name_zh"),
      text(t("nameEn"), state, "name_en"),
    ),
    template
      ? h(
          "p",
          { class: "muted" },
          template.versions.map((v) => `v${v.version} ${t(`versionStatus.${v.status}`)}`).join("；"),
        )
      : null,
  );
  const actionsRow = h(
    "div",
    { class: "row" },
    busyButton(
      { type: "button" },
      t("saveDraft"),
      t("saving"),
      guarded(async () => {
        const version = await save();
        done(version, t("templateSaved", { v: version.version }));
      }),
    ),
    busyButton(
      { type: "button" },
      t("publish"),
      t("publishing"),
      guarded(async () => {
        if (!window.confirm(t("confirmPublish"))) return;
        const version = await save();
        await json(`/api/v1/template-versions/${version.id}/publish`, { method: "POST" });
        done(version, t("templatePublished", { v: version.version }));
      }),
    ),
    h("button", {
      type: "button",
      class: "secondary",
      text: t("exportJson"),
      onclick: () =>
        download(
          `${state.code || "template"}.json`,
          JSON.stringify(
            {
              code: state.code,
              subject_type: state.subject_type,
              name_zh: state.name_zh,
              name_en: state.name_en,
              definition: state.definition,
            },
            null,
            2,
          ),
        ),
    }),
    h("label", { class: "button secondary" }, t("importJson"), importInput),
  );
  present(
    head,
    h(
      "div",
      { class: "builder-layout" },
      h("div", {}, editor, h("section", { class: "card" }, checkLine, actionsRow, status)),
      h("aside", {}, h("h2", { text: t("preview") }), frameNote, frame),
    ),
  );
  paint();
}
