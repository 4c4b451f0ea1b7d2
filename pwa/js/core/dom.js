// The tiny DOM helper every screen uses: text is always text (EXIF strings and names are data, never markup).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false)
      node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const app = () => document.getElementById("app");

export function show(...nodes) {
  app().replaceChildren(...nodes.filter((node) => node !== null && node !== undefined && node !== false));
  app().focus({ preventScroll: true });
}

export function field(label, control, ...after) {
  return h("label", { class: "field" }, h("span", { text: label }), control, ...after);
}

// The same, the control named by its label alone (a select inside a label is otherwise named by its options too).
export function namedField(label, control, ...after) {
  if (!control.hasAttribute("aria-label")) control.setAttribute("aria-label", label);
  return field(label, control, ...after);
}

// A button that says it is busy while its work runs (and cannot be tapped twice).
export function busyButton(attrs, label, busyLabel, work) {
  const button = h("button", {
    ...attrs,
    text: label,
    onclick: async (event) => {
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
      button.textContent = busyLabel;
      try {
        await work(event);
      } finally {
        button.removeAttribute("aria-busy");
        button.disabled = false;
        button.textContent = label;
      }
    },
  });
  return button;
}

// A photo by its URL, or, while there is none (not made yet, offline), a stand-in with the same accessible
// name, so that the picture is found and counted the same way either way.
export function picture(src, name, fallback, placeholderClass = null) {
  return src
    ? h("img", { src, alt: name })
    : h("span", { class: placeholderClass, role: "img", "aria-label": name, text: fallback });
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}
