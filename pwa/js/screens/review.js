// The reviewer's screens (desktop): the queue, and one visit declared vs observed with its photos, map and
// findings; approve, or return with a comment and the items the manager must change marked.
import { json, objectUrl } from "../core/api.js";
import { busyButton, field, h, picture, svg } from "../core/dom.js";
import { contactLine } from "./borrower.js";
import { placeMap } from "./map.js";
import { expand } from "../rules/repeats.js";
import { haversine, siteOf } from "../core/geo.js";
import { date, lang, metres, pick, t } from "../core/i18n.js";
import { shownFor } from "../rules/validate.js";

export async function renderQueue(present) {
  const page = await json("/api/v1/review/queue");
  const title = h("h1", { text: t("review") });
  if (!page.items.length) {
    present(title, h("p", { class: "muted", text: t("queueEmpty") }));
    return;
  }
  present(
    title,
    ...page.items.map((item) =>
      h(
        "a",
        { class: "visit card", href: `#/review/${item.visit.id}` },
        h(
          "div",
          { class: "row" },
          h("strong", { class: "grow", text: item.visit.borrower_name }),
          ...Object.entries(item.discrepancies)
            .filter(([, n]) => n)
            .map(([s, n]) => h("span", { class: `badge ${s}`, text: `${t(`severity.${s}`)} ${n}` })),
          item.conflict ? h("span", { class: "badge critical", text: t("conflict") }) : null,
          item.submission_state === "incomplete" ? h("span", { class: "badge major", text: t("incomplete") }) : null,
        ),
        h("div", { class: "muted", text: `${t(`status.${item.visit.status}`)} · ${date(item.submitted_at)}` }),
      ),
    ),
  );
}

// Where and when a photo was taken: the camera's EXIF first, else what the phone said, marked as the phone's.
function whereAndWhen(photo) {
  const exif = photo.exif || {};
  let when = exif.taken_at
    ? date(exif.taken_at)
    : exif.taken_at_local
      ? `${date(exif.taken_at_local, { local: true })} (${t("cameraClock")})`
      : "";
  if (!when && photo.device_taken_at) when = `${date(photo.device_taken_at)} (${t("byPhone")})`;
  let where = exif.gps ? `${exif.gps.lat.toFixed(5)}, ${exif.gps.lon.toFixed(5)}` : "";
  if (!where && photo.device_fix)
    where = `${Number(photo.device_fix.lat).toFixed(5)}, ${Number(photo.device_fix.lon).toFixed(5)} ±${Math.round(photo.device_fix.accuracy_m ?? 0)} m (${t("byPhone")})`;
  return { when: when || t("unknown"), where: where || t("unknown") };
}

function photoPoint(photo) {
  if (photo.exif?.gps) return { lat: photo.exif.gps.lat, lon: photo.exif.gps.lon };
  if (photo.device_fix) return { lat: Number(photo.device_fix.lat), lon: Number(photo.device_fix.lon) };
  return null;
}

// The declared site, the check-in with its accuracy and every photo's position, on tiles (screens/map.js).
function placesOf(site, fix, photos, labelOf) {
  return [
    site && { ...site, kind: "site" },
    fix && { lat: Number(fix.lat), lon: Number(fix.lon), accuracy_m: Number(fix.accuracy_m) || 0, kind: "fix" },
    ...photos.map((p, index) => {
      const at = photoPoint(p);
      return at && { ...at, kind: "photo", title: `${labelOf(p.item_key)} · ${t("photo")} ${index + 1}` };
    }),
  ].filter(Boolean);
}

function observedText(item, answer, fix, site) {
  if (item.type === "location") {
    if (!fix) return "";
    const away = site ? ` · ${t("fromSite", { d: metres(haversine(site, fix)) })}` : "";
    return `${fix.lat.toFixed(6)}, ${fix.lon.toFixed(6)} ±${Math.round(fix.accuracy_m)} m${away}`;
  }
  if (item.type === "photo") return t("photoCountShort", { n: answer?.photos?.length || 0 });
  if (item.type === "signature") return answer?.photos?.length ? t("signedYes") : "";
  const value = answer?.value;
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (item.type === "multi_choice" && Array.isArray(value))
    return value.map((v) => pick(item.choices.find((c) => c.value === v) || { label_zh: v, label_en: v })).join("、");
  if (item.type === "date" && value) return date(value);
  if (item.type === "choice")
    return pick(item.choices.find((c) => c.value === value) || { label_zh: value ?? "", label_en: value ?? "" });
  return value === undefined || value === null ? "" : `${value}${item.unit ? ` ${item.unit}` : ""}`;
}

// A number item's answers over the last approved inspections and this one, as a small line: the trend a
// reviewer judges a single figure against. Its text alternative lists the values.
function sparkline(item, points, current) {
  const values = [...(points || []).map((p) => p.value), ...(typeof current === "number" ? [current] : [])];
  if (values.length < 2) return null;
  const W = 120,
    H = 28,
    pad = 3;
  const low = Math.min(...values),
    high = Math.max(...values);
  const x = (i) => pad + (i * (W - 2 * pad)) / (values.length - 1);
  const y = (v) => (high === low ? H / 2 : H - pad - ((v - low) * (H - 2 * pad)) / (high - low));
  const drawing = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "sparkline",
    role: "img",
    "aria-label": `${t("trend")}: ${values.join(" → ")}${item.unit ? ` ${item.unit}` : ""}`,
  });
  drawing.append(
    svg("polyline", {
      points: values.map((v, i) => `${x(i)},${y(v)}`).join(" "),
      fill: "none",
      stroke: "#0b5cab",
      "stroke-width": "2",
    }),
  );
  drawing.append(svg("circle", { cx: x(values.length - 1), cy: y(values.at(-1)), r: "3", fill: "#c62828" }));
  return h("div", {}, drawing);
}

// Each photo item's photos beside the same item's from the subject's last approved inspection.
async function beforeAndAfter(record, labelOf) {
  const previous = record.previous;
  const keys = [...new Set([...record.photos, ...previous.photos].map((p) => p.item_key))];
  const strip = async (photos, when) =>
    h(
      "div",
      { class: "thumbs" },
      ...(await Promise.all(
        photos.map(async (p, index) => {
          const src = p.state === "processed" ? await objectUrl(p.links.thumbnail) : "";
          const name = `${labelOf(p.item_key)} · ${when} ${index + 1}`;
          return picture(src, name, t(`photoState.${p.state}`));
        }),
      )),
    );
  const rows = [];
  for (const key of keys) {
    rows.push(
      h(
        "div",
        { class: "compare", "data-item": key },
        h("h3", { text: labelOf(key) }),
        h(
          "div",
          { class: "sides" },
          h(
            "div",
            {},
            h("p", { class: "muted", text: `${t("lastTime")} (${date(previous.approved_at)})` }),
            await strip(
              previous.photos.filter((p) => p.item_key === key),
              t("lastTime"),
            ),
          ),
          h(
            "div",
            {},
            h("p", { class: "muted", text: t("thisVisit") }),
            await strip(
              record.photos.filter((p) => p.item_key === key),
              t("thisVisit"),
            ),
          ),
        ),
      ),
    );
  }
  return h("section", { class: "card" }, h("h2", { text: t("beforeAfter") }), ...rows);
}

export async function renderReviewVisit(id, present) {
  const record = await json(`/api/v1/visits/${id}`);
  const submission = record.submissions.at(-1);
  const site = siteOf(record);
  // Repeated sections as the submission had them: a row per machine ("设备 4/6（序列号）· …").
  const definition = expand(record.template_version.definition, submission?.body.repeats);
  const allItems = definition.sections.flatMap((s) => s.items);
  const labelOf = (key) => {
    const item = allItems.find((i) => i.key === key);
    return item ? pick(item) : key;
  };
  const fix = submission?.body.check_in;
  const open = record.status === "submitted";
  const marks = new Map();
  const shown = submission ? shownFor(definition, submission.body.answers) : new Set();
  const previous = record.previous;
  const rows = allItems.map((item) => {
    const answer = submission?.body.answers[item.key];
    const asked = !submission || shown.has(item.key);
    // Before and after: last time's answer beside this one, a change marked (not for the check-in, which
    // is where the manager stood, nor for photos, compared side by side below).
    const before =
      previous && item.type !== "location" ? observedText(item, previous.answers[item.key], null, null) : "";
    const now = asked ? observedText(item, answer, fix, site) : "";
    const changed = Boolean(previous) && item.type !== "location" && item.type !== "photo" && asked && before !== now;
    const bound = item.binds_to && record.declared.find((d) => d.field === item.binds_to);
    const member = item.rule?.params?.member; // one unit of a repeat: its own declared code
    const identifiers = member
      ? `${item.rule.params.identifier || ""} ${member}`.trim()
      : Object.entries(record.collateral?.identifiers || {})
          .filter(([name]) => !item.rule?.params?.identifier || name === item.rule.params.identifier)
          .map(([name, value]) => `${name} ${value}`)
          .join("；");
    const declared =
      item.type === "barcode"
        ? identifiers
        : item.type === "location"
          ? site?.address || ""
          : bound
            ? `${bound.value_number ?? bound.value_text} ${bound.unit}`
            : "";
    const mark = h("input", { type: "checkbox", "aria-label": `${t("askToChange")}: ${pick(item)}`, disabled: !open });
    marks.set(item.key, mark);
    return h(
      "tr",
      { "data-item": item.key, class: asked ? (changed ? "changed" : null) : "muted" },
      h("td", { text: pick(item) }),
      h("td", { text: declared }),
      previous ? h("td", {}, before, sparkline(item, previous.trend?.[item.key], answer?.value)) : null,
      h(
        "td",
        {},
        asked ? now : t("notAsked"),
        changed ? h("span", { class: "badge major", text: ` ${t("changed")}` }) : null,
        answer?.note ? h("div", { class: "muted", text: `${t("itemNote")}: ${answer.note}` }) : null,
      ),
      h("td", {}, mark),
    );
  });
  // Photos numbered per item, in the order the manager took them, so a finding can say which one.
  const numbers = new Map();
  for (const key of new Set(record.photos.map((p) => p.item_key))) {
    record.photos.filter((p) => p.item_key === key).forEach((p, index) => numbers.set(p.id, index + 1));
  }
  const photoName = (photo) => `${labelOf(photo.item_key)} · ${t("photo")} ${numbers.get(photo.id)}`;
  const photos = h("div", { class: "thumbs wide" });
  for (const p of record.photos) {
    const src = p.state === "processed" ? await objectUrl(p.links.thumbnail) : "";
    const { when, where } = whereAndWhen(p);
    photos.append(
      h(
        "figure",
        { id: `photo-${p.id}` },
        h(
          "a",
          {
            href: "#",
            onclick: async (e) => {
              e.preventDefault();
              // The copy stamped like a watermark camera's (time, place, manager, borrower).
              window.open(await objectUrl(p.links.stamped), "_blank");
            },
          },
          src ? h("img", { src, alt: photoName(p) }) : h("span", { text: t(`photoState.${p.state}`) }),
        ),
        h(
          "figcaption",
          {},
          h("strong", { text: photoName(p) }),
          h("br"),
          h("span", { class: "muted", text: `${t("takenAt")} ${when}` }),
          h("br"),
          h("span", { class: "muted", text: `${t("place")} ${where}` }),
          h("br"),
          h("a", {
            href: "#",
            text: t("originalPhoto"),
            onclick: async (e) => {
              e.preventDefault();
              window.open(await objectUrl(p.links.original), "_blank");
            },
          }),
        ),
      ),
    );
  }
  const byId = new Map(record.photos.map((p) => [p.id, p]));
  const findings = h(
    "ul",
    {},
    record.discrepancies.map((d) =>
      h(
        "li",
        {},
        h("span", { class: `badge ${d.severity}`, text: t(`severity.${d.severity}`) }),
        " ",
        d.photo_id && byId.has(d.photo_id)
          ? h("a", {
              href: `#photo-${d.photo_id}`,
              onclick: (e) => {
                e.preventDefault();
                document.getElementById(`photo-${d.photo_id}`)?.scrollIntoView();
              },
              text: `${photoName(byId.get(d.photo_id))}: `,
            })
          : d.item_key
            ? `${labelOf(d.item_key)}: `
            : "",
        lang() === "en" ? d.explanation_en : d.explanation_zh,
      ),
    ),
  );
  const comment = h("textarea", { "aria-label": t("comment"), name: "comment" });
  const status = h("p", { role: "status" });
  const decide = async (decision) => {
    const items = decision === "return" ? [...marks].filter(([, box]) => box.checked).map(([key]) => key) : [];
    try {
      await json(`/api/v1/visits/${id}/review`, {
        method: "POST",
        body: { decision, comment: comment.value, ...(items.length ? { items } : {}) },
      });
      status.textContent = t(`status.${decision === "approve" ? "approved" : "returned"}`);
      setTimeout(() => {
        location.hash = "#/review";
      }, 400);
    } catch (e) {
      status.textContent = e.message;
    }
  };
  const conflicts = [...new Set(record.submissions.flatMap((s) => s.conflict_reasons))];
  const contacts = await json(`/api/v1/contacts?visit_id=${id}`).catch(() => []);
  present(
    h(
      "section",
      { class: "card" },
      h("h1", { text: record.borrower.name }),
      h("div", { class: "muted", text: `${t(`status.${record.status}`)} · ${t("due")} ${date(record.due_on)}` }),
      conflicts.length ? h("p", { class: "error", text: `${t("conflict")}: ${conflicts.join(", ")}` }) : null,
      submission?.state === "incomplete" ? h("p", { class: "warn", text: t("incomplete") }) : null,
      h(
        "div",
        { class: "row" },
        h("a", { class: "button secondary", href: `#/borrower/${record.borrower.id}`, text: t("borrowerPage") }),
        h("a", {
          class: "button secondary",
          href: `#/case-new?borrower=${record.borrower.id}&origin=visit:${record.id}`,
          text: t("case.openFrom"),
        }),
      ),
    ),
    h(
      "div",
      { class: "sides" },
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("declaredVsObserved") }),
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { text: t("item") }),
              h("th", { text: t("declared") }),
              previous ? h("th", { text: `${t("lastTime")} (${date(previous.approved_at)})` }) : null,
              h("th", { text: t("observed") }),
              h("th", { text: t("askToChange") }),
            ),
          ),
          h("tbody", {}, rows),
        ),
        h("p", { text: `${t("notes")}: ${submission?.body.notes || ""}` }),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("map") }),
        await placeMap(placesOf(site, fix, record.photos, labelOf)),
      ),
    ),
    h("section", { class: "card" }, h("h2", { text: t("photos") }), photos),
    previous ? await beforeAndAfter(record, labelOf) : null,
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("findings") }),
      record.discrepancies.length ? findings : h("p", { text: t("noFindings") }),
    ),
    contacts.length
      ? h(
          "section",
          { class: "card" },
          h("h2", { text: t("contacts") }),
          h("ul", { class: "plain-list" }, contacts.map(contactLine)),
        )
      : null,
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("decision") }),
      field(t("comment"), comment),
      h(
        "div",
        { class: "row" },
        busyButton({ disabled: !open }, t("approve"), t("saving"), () => decide("approve")),
        busyButton(
          { class: "danger", "aria-label": t("returnVisit"), disabled: !open },
          t("returnVisit"),
          t("saving"),
          () => decide("return"),
        ),
      ),
      status,
    ),
  );
}
