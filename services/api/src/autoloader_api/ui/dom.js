// Tiny DOM helpers: every screen builds its elements with h(); text always goes in as text, never as HTML,
// so nothing the API returns (file names, error messages) can inject markup.

/**
 * Create an element.
 * @param {string} tag - tag name, optionally with classes: "button.btn.btn-primary"
 * @param {object|null} attrs - attributes; `on*` functions become listeners, `dataset`/`style` objects are merged,
 *   boolean true sets an empty attribute, false/null/undefined leave it out
 * @param {...any} children - nodes, strings, numbers, arrays of them; null/false are skipped
 */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const element = document.createElement(name);
  if (classes.length) element.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key === "class") {
      element.className = [element.className, value].filter(Boolean).join(" ");
    } else if (key === "value" && "value" in element) {
      element.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      element[key] = Boolean(value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let idCounter = 0;

/** A fresh id for label/input pairs. */
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Show a short message in the corner (announced to screen readers). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h(`div.toast.toast-${kind}`, { role: kind === "error" ? "alert" : null }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 4000);
}

/**
 * Ask for confirmation in an accessible modal dialog.
 * @param {{title: string, body?: any, confirmLabel?: string, danger?: boolean}} options
 * @returns {Promise<boolean>} true when the user confirms
 */
export function confirmDialog({ title, body, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog.dialog",
      { "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      h("div.dialog-body", null, body),
      h(
        "div.actions",
        null,
        h("button.btn", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, "Cancel"),
        h(
          `button.btn.${danger ? "btn-danger" : "btn-primary"}`,
          { type: "button", value: "ok", onclick: () => dialog.close("ok") },
          confirmLabel,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
