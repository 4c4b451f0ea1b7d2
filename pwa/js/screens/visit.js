// One visit on the phone: check in, answer the checklist, take the photos, submit. The pinned template's
// rules are checked here before the manager may submit (rules.js, the server's own checks); a draft the
// server refused comes back here with the refused items marked; a returned visit opens pre-filled.
import { json, objectUrl } from "../core/api.js";
import {
  addRepeat,
  checklistOf,
  loadDraft,
  newDraft,
  problemsOf,
  removeRepeat,
  saveDraft,
  submitDraft,
} from "../core/capture.js";
import { baseKey } from "../rules/repeats.js";
import { busyButton, field, h, picture } from "../core/dom.js";
import { haversine, sha256Hex, siteOf } from "../core/geo.js";
import { lastFix, previousPhotoUrl, rememberFix, visitEntry } from "../core/package.js";
import { placeMap } from "./map.js";
import { contactLine } from "./borrower.js";
import * as store from "../core/store.js";
import { actions } from "../core/state.js";
import { checkItem, shownFor, unanswered } from "../rules/validate.js";
import { visible } from "../rules/conditions.js";
import { date, lang, metres, pick, t } from "../core/i18n.js";

const FEW_CHOICES = 4; // up to this many options show as buttons: one tap, no dropdown

function describeDeclared(visit) {
  const rows = visit.declared.map((d) =>
    h(
      "tr",
      {},
      h("td", { text: d.field }),
      h("td", { text: d.value_number ?? d.value_text ?? "" }),
      h("td", { text: d.unit }),
      h("td", { text: date(d.declared_on) }),
    ),
  );
  return h("table", {}, h("tbody", {}, rows));
}

function kilobytes(size) {
  return size >= 1e6 ? `${(size / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(size / 1e3))} KB`;
}

const message = (problem) => (lang() === "en" ? problem.en : problem.zh);

// Buttons that act as one radio group: one tap answers, the chosen one is pressed.
function buttonGroup(label, options, current, onPick) {
  const group = h("div", { class: "choice", role: "radiogroup", "aria-label": label });
  const paint = (value) => {
    for (const button of group.children)
      button.setAttribute("aria-checked", String(button.dataset.value === String(value)));
  };
  for (const [value, text] of options) {
    group.append(
      h("button", {
        type: "button",
        role: "radio",
        class: "option",
        "data-value": value,
        text,
        onclick: () => {
          paint(value);
          onPick(value);
        },
      }),
    );
  }
  paint(current);
  return group;
}

// Several of the choices: each a toggle, the answer the list of those pressed, in the template's order.
function checkGroup(label, choices, current, onChange) {
  const picked = new Set(current);
  const group = h("div", { class: "choice", role: "group", "aria-label": label });
  for (const choice of choices) {
    const button = h("button", {
      type: "button",
      role: "checkbox",
      class: "option",
      "aria-checked": String(picked.has(choice.value)),
      text: pick(choice),
      onclick: () => {
        if (picked.has(choice.value)) picked.delete(choice.value);
        else picked.add(choice.value);
        button.setAttribute("aria-checked", String(picked.has(choice.value)));
        onChange(choices.map((c) => c.value).filter((value) => picked.has(value)));
      },
    });
    group.append(button);
  }
  return group;
}

// A code read from a nameplate or certificate: typed, or scanned with the camera where the browser has
// BarcodeDetector (Chrome on Android); a code the camera read is still shown and can be corrected.
function codeControl(label, item, current, onChange) {
  const input = h("input", {
    "aria-label": label,
    name: item.key,
    autocomplete: "off",
    maxlength: "200",
    inputmode: "text",
  });
  input.value = current;
  input.addEventListener("input", () => onChange(input.value.trim() || null));
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) return input;
  const scan = h("button", {
    type: "button",
    class: "secondary",
    text: t("scanCode"),
    onclick: () => scanInto(input, onChange),
  });
  return h("div", { class: "row" }, input, scan);
}

async function scanInto(input, onChange) {
  const video = h("video", { playsinline: true, muted: true, class: "scanner" });
  const status = h("p", { role: "status", text: t("scanning") });
  const dialog = h(
    "dialog",
    { "aria-label": t("scanCode") },
    video,
    status,
    h("button", { type: "button", class: "secondary", text: t("cancel"), onclick: () => dialog.close() }),
  );
  document.body.append(dialog);
  let stream;
  dialog.addEventListener("close", () => {
    stream?.getTracks().forEach((track) => track.stop());
    dialog.remove();
  });
  dialog.showModal();
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    await video.play();
    const detector = new window.BarcodeDetector();
    while (dialog.open) {
      const [code] = await detector.detect(video);
      if (code?.rawValue) {
        input.value = code.rawValue.trim();
        onChange(input.value || null);
        dialog.close();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch {
    status.textContent = t("scanUnavailable");
  }
}

// A free-text note on any item ("the gate was locked; seen through the fence"), sent with its answer.
function noteControl(item, label, answer) {
  // Named "Note" alone, inside the item: a name holding the item's label would make "the field labelled
  // Observed quantity" ambiguous for every assistive tool and test that looks the answer up by its label.
  const note = h("textarea", {
    "aria-label": t("itemNote"),
    name: `${item.key}-note`,
    maxlength: "4000",
  });
  note.value = answer.note || "";
  const details = h(
    "details",
    { class: "note", open: answer.note ? true : null },
    h("summary", { text: t("addNote") }),
    note,
  );
  note.addEventListener("input", () => {
    answer.note = note.value;
    note.dispatchEvent(new CustomEvent("note-changed", { bubbles: true }));
  });
  return details;
}

// An item's visible name. A repeated one drops the unit its card's heading already shows ("设备 4/6（…）· "),
// which screen readers still hear: the accessible name stays whole.
function caption(item, label, after = "") {
  const unit = item.unit_of ? (lang() === "en" ? item.unit_of.en : item.unit_of.zh) : "";
  if (!unit || !label.startsWith(unit)) return h("span", { text: label + after });
  return h("span", {}, h("span", { class: "sr", text: unit }), label.slice(unit.length) + after);
}

async function thumbnailUrl(photo) {
  if (photo.blob) return URL.createObjectURL(photo.blob);
  if (!navigator.onLine || !photo.thumbnail) return "";
  return objectUrl(photo.thumbnail);
}

// preview: {entry, draft?} — the template builder's phone frame: the form of a made-up visit, nothing kept,
// nothing sent, no position asked.
export async function renderVisit(id, present, preview = null) {
  const entry = preview ? preview.entry : await visitEntry(id);
  if (!entry) {
    present(h("h1", { text: t("noVisits") }), h("a", { href: "#/", text: t("back") }));
    return;
  }
  const visit = entry.visit;
  const template = visit.template_version.definition;
  const draft = preview
    ? (preview.draft ||= newDraft(entry, new Date().toISOString()))
    : await loadDraft(entry, new Date().toISOString());
  // The checklist as the draft's repeats make it: one card per machine, "设备 4/6（序列号）".
  const definition = checklistOf(entry, draft);
  const locked = Boolean(draft.sentAs);
  const site = siteOf(visit);
  const errors = {};
  const cards = {};
  const refusedBy = (key) => (draft.refused || []).filter((p) => p.item === key);
  const findingsFor = (key) => (entry.returned?.findings || []).filter((f) => f.item_key === key);
  if (!preview && navigator.onLine && visit.status === "scheduled")
    json(`/api/v1/visits/${id}/start`, { method: "POST" }).catch(() => {});

  const save = () => (preview ? Promise.resolve() : saveDraft(draft));
  const answerOf = (item) => ({
    value: draft.answers[item.key]?.value ?? null,
    photos: draft.photos.filter((p) => p.itemKey === item.key).map((p) => p.id),
  });
  // A message shown for an item clears as soon as the item is fixed; a new one appears only on submit.
  const recheck = (item) => {
    const error = errors[item.key];
    if (!error.textContent) return;
    const problems = checkItem(item, answerOf(item), draft.checkIn);
    error.textContent = problems.map(message).join("；");
    if (!problems.length) cards[item.key]?.classList.remove("invalid");
  };

  const checkInStatus = h("p", { role: "status" });
  const describeFix = () => {
    if (!draft.checkIn) return "";
    const d = site ? haversine(draft.checkIn, site) : null;
    let text = t("checkedIn", { a: Math.round(draft.checkIn.accuracy_m), d: metres(d) });
    if (draft.checkIn.accuracy_m > 100) text += " · " + t("poorFix", { a: Math.round(draft.checkIn.accuracy_m) });
    else if (d !== null && d > 300) text += " · " + t("farFromSite", { d: metres(d) });
    return text;
  };
  // The site and where the manager is (the check-in, else the phone's last fix), offline on kept tiles.
  const mapSlot = h("div", { class: "map-slot" });
  let located = false,
    painted = 0;
  const paintMap = async () => {
    const turn = ++painted;
    if (!draft.checkIn && !located && navigator.geolocation) {
      located = true; // once per screen: a fresh position for the map before the manager checks in
      navigator.geolocation.getCurrentPosition(
        async (pos) => {
          const { latitude: lat, longitude: lon, accuracy } = pos.coords;
          await rememberFix({ lat, lon, accuracy_m: accuracy, fixed_at: new Date(pos.timestamp).toISOString() });
          if (mapSlot.isConnected && !draft.checkIn) paintMap();
        },
        () => {},
        { maximumAge: 60000, timeout: 15000 },
      );
    }
    const here = draft.checkIn || (await lastFix());
    const points = [
      site && { ...site, kind: "site" },
      here && { lat: here.lat, lon: here.lon, accuracy_m: here.accuracy_m || 0, kind: "fix" },
    ];
    const figure = await placeMap(points.filter(Boolean), {
      fixLabel: draft.checkIn ? t("checkInPoint") : t("yourPosition"),
      offline: true,
    });
    if (turn === painted) mapSlot.replaceChildren(figure); // only the newest paint
  };
  const paintCheckIn = () => {
    if (!preview) paintMap();
    checkInStatus.textContent = describeFix();
    checkInStatus.className =
      draft.checkIn && (draft.checkIn.accuracy_m > 100 || (site && haversine(draft.checkIn, site) > 300)) ? "warn" : "";
  };
  paintCheckIn();
  const fixListeners = [];
  const checkInButton = h("button", {
    type: "button",
    text: t("checkIn"),
    onclick: () => {
      checkInButton.setAttribute("aria-busy", "true");
      navigator.geolocation.getCurrentPosition(
        async (pos) => {
          checkInButton.removeAttribute("aria-busy");
          draft.checkIn = {
            lat: pos.coords.latitude,
            lon: pos.coords.longitude,
            accuracy_m: pos.coords.accuracy,
            fixed_at: new Date(pos.timestamp).toISOString(),
          };
          await rememberFix(draft.checkIn);
          await save();
          for (const paint of fixListeners) paint();
          paintCheckIn();
        },
        (e) => {
          checkInButton.removeAttribute("aria-busy");
          checkInStatus.textContent = t("noGeo", { e: e.message });
        },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 },
      );
    },
  });

  function photoControl(item, label, block, error) {
    const thumbs = h("div", { class: "thumbs" });
    const count = h("span", { class: "muted" });
    const input = h("input", {
      type: "file",
      accept: "image/*",
      capture: "environment",
      multiple: true,
      class: "sr",
      "aria-label": `${label} ${t("photo")}`,
      name: item.key,
    });
    const takeAnother = h("button", {
      type: "button",
      class: "secondary",
      text: t("takePhoto"),
      onclick: () => input.click(),
    });
    const paint = async () => {
      const mine = draft.photos.filter((p) => p.itemKey === item.key);
      count.textContent = t("photoCount", { n: mine.length, max: item.max_photos });
      takeAnother.textContent = mine.length ? t("takeAnother") : t("takePhoto");
      takeAnother.disabled = locked || mine.length >= item.max_photos;
      thumbs.replaceChildren(
        ...(await Promise.all(
          mine.map(async (p, index) => {
            const src = await thumbnailUrl(p);
            const name = `${label} ${t("photo")} ${index + 1}`;
            return h(
              "figure",
              { class: p.refused ? "thumb refused" : "thumb", "data-photo": p.id },
              picture(src, name, t("onServer"), "placeholder"),
              h(
                "figcaption",
                { class: "muted" },
                p.remote ? t("onServer") : kilobytes(p.size),
                p.refused ? h("span", { class: "error", text: ` · ${t("refusedPhoto")}` }) : null,
              ),
              locked
                ? null
                : h("button", {
                    type: "button",
                    class: "remove",
                    "aria-label": `${t("removePhoto")}: ${name}`,
                    text: "×",
                    onclick: async () => {
                      draft.photos = draft.photos.filter((other) => other.id !== p.id);
                      draft.refused = (draft.refused || []).filter((problem) => problem.photoId !== p.id);
                      if (draft.refused && !draft.refused.length) draft.refused = null;
                      await save();
                      await paint();
                      recheck(item);
                    },
                  }),
            );
          }),
        )),
      );
    };
    input.addEventListener("change", async () => {
      const fix = draft.checkIn;
      for (const file of input.files) {
        const buffer = await file.arrayBuffer();
        // The bytes and their hash are kept at once, with where and when the phone says it was taken.
        draft.photos.push({
          id: crypto.randomUUID(),
          itemKey: item.key,
          blob: new Blob([buffer], { type: file.type || "image/jpeg" }),
          sha256: await sha256Hex(buffer),
          size: buffer.byteLength,
          type: file.type || "image/jpeg",
          fix: fix ? { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m } : null,
          takenAt: new Date().toISOString(),
        });
      }
      input.value = "";
      await save();
      await paint();
      recheck(item);
      // Several in a row: the next photo is one tap on the button right here, the form stays put.
      takeAnother.focus();
    });
    paint();
    block.append(
      h(
        "div",
        { class: "field" },
        caption(item, label, ` ${t("photo")}`),
        help(item),
        input,
        h("div", { class: "row" }, takeAnother, count),
        thumbs,
        lastTime(item, label),
        error,
      ),
    );
  }

  // Last time's photos of this item (kept on the phone with the package), to frame the same views offline.
  function lastTime(item, label) {
    const previous = entry.previous_visit;
    const photos = (previous?.photos || []).filter((photo) => photo.item_key === item.key);
    if (!photos.length) return null;
    const strip = h("div", { class: "thumbs previous" });
    Promise.all(
      photos.map(async (photo, index) =>
        picture(await previousPhotoUrl(photo.id), `${label} ${t("lastTimePhoto")} ${index + 1}`, t("notOffline")),
      ),
    ).then((pictures) => strip.replaceChildren(...pictures));
    return h(
      "div",
      { class: "last-time" },
      h("span", { class: "muted", text: t("lastTimePhotos", { date: date(previous.approved_at) }) }),
      strip,
    );
  }

  // Signed with a finger on the screen; kept as a PNG photo of the visit (white behind the ink, so that the
  // server's derivatives, which drop transparency, show it) with its own SHA-256, sent like any photo.
  function signatureControl(item, label, block, error) {
    const canvas = h("canvas", { width: "600", height: "240", class: "signature", "aria-label": label, role: "img" });
    const context = canvas.getContext("2d");
    const blank = () => {
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.strokeStyle = "#1b2430";
      context.lineWidth = 3;
      context.lineCap = "round";
    };
    blank();
    let drawing = false;
    let inked = false;
    const at = (event) => {
      const box = canvas.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * canvas.width) / box.width,
        ((event.clientY - box.top) * canvas.height) / box.height,
      ];
    };
    canvas.addEventListener("pointerdown", (event) => {
      if (locked) return;
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      context.beginPath();
      context.moveTo(...at(event));
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      context.lineTo(...at(event));
      context.stroke();
      inked = true;
    });
    canvas.addEventListener("pointerup", () => {
      drawing = false;
    });
    const signed = h("div", { class: "thumbs" });
    const paint = async () => {
      const mine = draft.photos.filter((p) => p.itemKey === item.key);
      signed.replaceChildren(
        ...(await Promise.all(
          mine.map(async (p) => picture(await thumbnailUrl(p), `${label} ${t("signed")}`, t("onServer"))),
        )),
      );
      canvas.hidden = mine.length > 0;
      keep.hidden = mine.length > 0 || locked;
      clear.textContent = mine.length ? t("signAgain") : t("clear");
    };
    const keep = h("button", {
      type: "button",
      text: t("keepSignature"),
      onclick: async () => {
        if (!inked) return;
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
        const buffer = await blob.arrayBuffer();
        draft.photos = draft.photos.filter((p) => p.itemKey !== item.key);
        draft.photos.push({
          id: crypto.randomUUID(),
          itemKey: item.key,
          blob,
          sha256: await sha256Hex(buffer),
          size: buffer.byteLength,
          type: "image/png",
          fix: null,
          takenAt: new Date().toISOString(),
        });
        await save();
        await paint();
        recheck(item);
      },
    });
    const clear = h("button", {
      type: "button",
      class: "secondary",
      text: t("clear"),
      onclick: async () => {
        draft.photos = draft.photos.filter((p) => p.itemKey !== item.key);
        blank();
        inked = false;
        await save();
        await paint();
        recheck(item);
      },
    });
    paint();
    block.append(
      h(
        "div",
        { class: "field" },
        caption(item, label),
        help(item),
        canvas,
        signed,
        h("div", { class: "row" }, keep, clear),
        error,
      ),
    );
  }

  function help(item) {
    const text = lang() === "en" ? item.help_en : item.help_zh;
    return text ? h("small", { class: "help", text }) : null;
  }

  const blocks = [];
  const sectionBlocks = [];
  // Skip logic: an item or section whose condition does not hold on the answers so far is not shown (nor
  // checked, nor sent); it comes back, with what it held, when the answers change.
  const applyVisibility = () => {
    const shown = shownFor(definition, draft.answers);
    const values = Object.fromEntries(Object.entries(draft.answers).map(([k, a]) => [k, a?.value ?? null]));
    for (const [section, block] of sectionBlocks)
      block.hidden = section.repeatOf
        ? !visible(section.repeatOf.visible_if, values, shown)
        : !section.items.some((item) => shown.has(item.key));
    for (const [key, wrap] of Object.entries(cards)) {
      wrap.hidden = !shown.has(key);
      if (wrap.hidden) {
        errors[key].textContent = "";
        wrap.classList.remove("invalid");
      }
    }
  };
  // A repeated section the manager adds to: a button under its repeats, and one on each to remove it.
  const repeatsOf = (raw) => definition.sections.filter((s) => baseKey(s.key)[0] === raw.key && baseKey(s.key)[1]);
  const unitLabel = (raw) => (lang() === "en" ? raw.repeat.label_en : raw.repeat.label_zh);
  const rerender = async () => {
    await save();
    if (preview) await renderVisit(id, present, preview);
    else await actions.route();
  };
  const removeButton = (raw, n, section) =>
    h("button", {
      type: "button",
      class: "secondary",
      text: t("removeRepeat", { what: unitLabel(raw), n }),
      disabled: repeatsOf(raw).length <= raw.repeat.min,
      onclick: async () => {
        const holds = section.items.some(
          (item) => !unanswered(draft.answers[item.key]?.value) || draft.photos.some((p) => p.itemKey === item.key),
        );
        if (holds && !window.confirm(t("removeRepeatConfirm", { what: unitLabel(raw), n }))) return;
        removeRepeat(draft, raw, n);
        await rerender();
      },
    });
  const addCard = (raw) => {
    const count = repeatsOf(raw).length;
    return h(
      "section",
      { class: "card repeat-add", "data-repeat": raw.key },
      count ? null : h("h2", { text: pick(raw, "title") }),
      h("p", {
        class: "muted",
        text: t("repeatCount", { n: count, what: unitLabel(raw), min: raw.repeat.min, max: raw.repeat.max }),
      }),
      h("button", {
        type: "button",
        class: "secondary",
        text: t("addRepeat", { what: unitLabel(raw) }),
        disabled: count >= raw.repeat.max,
        onclick: async () => {
          addRepeat(draft, raw.key);
          await rerender();
        },
      }),
    );
  };
  const sectionsInOrder = [];
  for (const raw of template.sections) {
    if (!raw.repeat) sectionsInOrder.push([raw, raw, 0]);
    else repeatsOf(raw).forEach((section, index) => sectionsInOrder.push([section, raw, index + 1]));
    if (raw.repeat && !raw.repeat.over) sectionsInOrder.push([null, raw, 0]);
  }
  for (const [section, raw, n] of sectionsInOrder) {
    if (!section) {
      const card = addCard(raw);
      sectionBlocks.push([{ items: [], visible_if: raw.visible_if, repeatOf: raw }, card]);
      blocks.push(card);
      continue;
    }
    const block = h("section", { class: "card" }, h("h2", { text: pick(section, "title") }));
    sectionBlocks.push([section, block]);
    if (n && !raw.repeat.over) block.append(removeButton(raw, n, section));
    for (const item of section.items) {
      const label = pick(item);
      const error = h("div", { class: "error", role: "alert", id: `error-${item.key}` });
      errors[item.key] = error;
      const answer = (draft.answers[item.key] ||= {});
      const set = (value) => {
        answer.value = value;
        save();
        recheck(item);
        applyVisibility();
      };
      const marked = draft.marked?.includes(item.key);
      const refused = refusedBy(item.key);
      const wrap = h("div", {
        class: `item${marked ? " marked" : ""}${refused.length ? " invalid" : ""}`,
        "data-item": item.key,
      });
      cards[item.key] = wrap;
      if (marked) {
        wrap.append(
          h("p", { class: "flag", text: t("reviewerAsked") }),
          ...findingsFor(item.key).map((f) =>
            h("p", {
              class: "muted",
              text: `${t(`severity.${f.severity}`)}: ${lang() === "en" ? f.explanation_en : f.explanation_zh}`,
            }),
          ),
        );
      }
      if (refused.length) error.textContent = refused.map(message).filter(Boolean).join("；") || t("refusedItem");
      if (item.type === "location") {
        // The fix itself, read-only, labelled with the item's name; the button takes a new one.
        const where = h("input", { readonly: true, "aria-label": label, name: item.key });
        const paintFix = () => {
          where.value = draft.checkIn
            ? `${draft.checkIn.lat.toFixed(6)}, ${draft.checkIn.lon.toFixed(6)} ±${Math.round(draft.checkIn.accuracy_m)} m`
            : "";
          recheck(item);
        };
        paintFix();
        fixListeners.push(paintFix);
        wrap.append(
          h(
            "div",
            { class: "field" },
            caption(item, label),
            help(item),
            where,
            h("div", { class: "row" }, checkInButton),
            checkInStatus,
            error,
          ),
        );
      } else if (item.type === "photo") {
        photoControl(item, label, wrap, error);
      } else if (item.type === "signature") {
        signatureControl(item, label, wrap, error);
      } else {
        let control;
        const current = answer.value === undefined || answer.value === null ? "" : String(answer.value);
        if (item.type === "boolean") {
          control = buttonGroup(
            label,
            [
              ["true", t("yes")],
              ["false", t("no")],
            ],
            current,
            (value) => set(value === "true"),
          );
        } else if (item.type === "choice" && item.choices.length <= FEW_CHOICES) {
          control = buttonGroup(
            label,
            item.choices.map((c) => [c.value, pick(c)]),
            current,
            set,
          );
        } else if (item.type === "choice") {
          control = h(
            "select",
            { "aria-label": label, name: item.key },
            [["", "—"], ...item.choices.map((c) => [c.value, pick(c)])].map(([value, text]) =>
              h("option", { value, text }),
            ),
          );
          control.value = current;
          control.addEventListener("change", () => set(control.value === "" ? null : control.value));
        } else if (item.type === "multi_choice") {
          control = checkGroup(label, item.choices, Array.isArray(answer.value) ? answer.value : [], set);
        } else if (item.type === "barcode") {
          control = codeControl(label, item, current, set);
        } else if (item.type === "date") {
          control = h("input", { type: "date", "aria-label": label, name: item.key });
          control.value = current;
          control.addEventListener("input", () => set(control.value || null));
        } else if (item.type === "number" || item.type === "integer") {
          const whole = item.type === "integer";
          control = h("input", {
            type: "number",
            inputmode: whole ? "numeric" : "decimal",
            step: whole ? "1" : "any",
            "aria-label": label,
            name: item.key,
            min: item.min ?? null,
            max: item.max ?? null,
          });
          control.value = current;
          control.addEventListener("input", () => set(control.value === "" ? null : Number(control.value)));
        } else {
          control = h("textarea", { "aria-label": label, name: item.key });
          control.value = current;
          control.addEventListener("input", () => set(control.value));
        }
        control.setAttribute("aria-describedby", `error-${item.key}`);
        wrap.append(
          h(
            "div",
            { class: "field" },
            caption(item, label, item.unit ? ` (${item.unit})` : ""),
            help(item),
            control,
            error,
          ),
        );
      }
      if (item.type !== "location") wrap.append(noteControl(item, label, answer));
      block.append(wrap);
    }
    blocks.push(block);
  }
  const notes = h("textarea", { "aria-label": t("notes"), name: "notes" });
  notes.value = draft.notes || "";
  notes.addEventListener("input", () => {
    draft.notes = notes.value;
    save();
  });
  const status = h("p", { role: "status" });

  function validate() {
    const problems = problemsOf(definition, draft);
    for (const item of definition.sections.flatMap((s) => s.items)) {
      const mine = problems.filter((p) => p.item === item.key);
      errors[item.key].textContent = mine.map(message).join("；");
      cards[item.key].classList.toggle("invalid", mine.length > 0);
    }
    return problems;
  }

  async function submit() {
    if (preview) {
      status.textContent = t("previewOnly");
      validate();
      return;
    }
    const problems = validate();
    if (problems.length) {
      status.textContent = t("fixItems", { n: problems.length });
      cards[problems[0].item]?.scrollIntoView({ block: "center" });
      return;
    }
    await submitDraft(entry, draft, new Date().toISOString());
    status.textContent = t("submitted");
    actions.registerBackgroundSync();
    actions.kickSync();
    location.hash = "#/outbox";
  }

  const refusedBanner = draft.refused?.length
    ? h(
        "div",
        { class: "card refused", role: "alert" },
        h("strong", { text: t("refusedTitle") }),
        h("p", { text: t("refusedWhat") }),
        h(
          "ul",
          {},
          draft.refused.map((p) => {
            const item = definition.sections.flatMap((s) => s.items).find((i) => i.key === p.item);
            return h("li", { text: `${item ? pick(item) : t("submission")}: ${message(p) || t("refusedItem")}` });
          }),
        ),
      )
    : null;
  const head = h(
    "section",
    { class: "card" },
    h("h1", { text: visit.borrower.name }),
    h("div", { class: "muted", text: `${visit.borrower.address} · ${t("due")} ${date(visit.due_on)}` }),
    entry.review_comment ? h("p", { class: "warn", text: `${t("reviewComment")}: ${entry.review_comment}` }) : null,
    draft.marked?.length ? h("p", { class: "muted", text: t("returnedPrefilled", { n: draft.marked.length }) }) : null,
    site ? h("p", { text: `${t("site")}: ${site.address}` }) : null,
    mapSlot,
    h("details", {}, h("summary", { text: t("declared") }), describeDeclared(visit)),
    h("p", {
      class: "muted",
      text: `${t("previous")}: ${entry.previous_visit ? `${date(entry.previous_visit.approved_at)} ${entry.previous_visit.manager_name} ${entry.previous_visit.notes}` : t("none")}`,
    }),
  );
  const lockedBanner = locked
    ? h(
        "p",
        { class: "card notice", role: "status" },
        t("lockedDraft"),
        " ",
        h("a", { href: "#/outbox", text: t("outbox") }),
      )
    : null;
  const form = h(
    "fieldset",
    { class: "plain", disabled: locked },
    ...blocks,
    h(
      "section",
      { class: "card" },
      field(t("notes"), notes),
      h(
        "div",
        { class: "row" },
        h("button", {
          type: "button",
          class: "secondary",
          text: t("saveDraft"),
          onclick: async () => {
            await save();
            status.textContent = t("draftSaved");
          },
        }),
        busyButton({ type: "button" }, t("submit"), t("submitting"), submit),
      ),
      status,
    ),
  );
  form.addEventListener("note-changed", () => save());
  applyVisibility();
  present(head, lockedBanner, refusedBanner, form, preview ? null : await contactsCard(entry));
}

// The contact log on the visit: what was said before (from the work package, offline too), what was recorded on
// this visit and waits in the outbox or was sent, and the way to record a meeting held on site.
async function contactsCard(entry) {
  const visit = entry.visit;
  const mine = (await store.byVisit(visit.id)).filter((item) => item.kind === "contact");
  const sentIds = new Set(mine.map((item) => item.id));
  const earlier = (entry.contacts || []).filter((c) => !sentIds.has(c.id));
  return h(
    "section",
    { class: "card", "aria-label": t("contacts") },
    h("h2", { text: t("contacts") }),
    mine.length
      ? h(
          "ul",
          { class: "plain-list" },
          mine.map((item) =>
            h(
              "li",
              { "data-contact": item.id },
              h("span", { class: `badge ${item.state}`, text: t(`state.${item.state}`) }),
              " ",
              `${t(`channel.${item.body.channel}`)} · ${item.body.people.map((p) => p.name).join("、")}: ${item.body.summary}`,
            ),
          ),
        )
      : null,
    earlier.length
      ? h(
          "details",
          {},
          h("summary", { text: t("contact.earlier", { n: earlier.length }) }),
          h("ul", { class: "plain-list" }, earlier.map(contactLine)),
        )
      : null,
    h("a", {
      class: "button secondary",
      href: `#/contact-new?borrower=${visit.borrower.id}&visit=${visit.id}`,
      text: t("contact.record"),
    }),
  );
}
