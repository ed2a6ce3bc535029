// Form building blocks: every input has a label, a hint and an error slot tied to it with aria-describedby,
// and API problem details land next to the field they name (`errors[].field` is the body path, e.g.
// "schedule.cron_expression"), or in a box at the top of the form when no field matches.

import { h, uid } from "./dom.js";

/**
 * A labelled form field.
 * @param {{label: string, name: string, control: HTMLElement, hint?: string, required?: boolean}} spec
 *   `name` is the API body path of the value (used to place errors); `control` is an input/select/textarea.
 */
export function field({ label, name, control, hint, required = false }) {
  const id = control.id || uid("field");
  control.id = id;
  control.dataset.field = name;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  control.setAttribute("aria-describedby", hint ? `${hintId} ${errorId}` : errorId);
  if (required) control.required = true;
  return h(
    "div.field",
    { dataset: { fieldWrap: name } },
    h("label", { for: id }, label, required ? h("span.required", { "aria-hidden": "true" }, " *") : null),
    control,
    hint ? h("p.hint", { id: hintId }, hint) : null,
    h("p.field-error", { id: errorId, dataset: { errorFor: name } }),
  );
}

export function input(attrs = {}) {
  return h("input", { type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

/** A <select> of [value, label] pairs (or plain strings). */
export function select(options, attrs = {}) {
  const element = h("select", attrs);
  for (const option of options) {
    const [value, label] = Array.isArray(option) ? option : [option, option];
    element.append(h("option", { value, selected: String(attrs.value ?? "") === String(value) }, label));
  }
  if (attrs.value !== undefined) element.value = attrs.value;
  return element;
}

export function checkbox({ label, name, checked = false, hint }) {
  const id = uid("check");
  const box = h("input", { type: "checkbox", id, checked, dataset: { field: name } });
  return h(
    "div.field.field-check",
    { dataset: { fieldWrap: name } },
    box,
    h("label", { for: id }, label),
    hint ? h("p.hint", null, hint) : null,
    h("p.field-error", { dataset: { errorFor: name } }),
  );
}

/** Remove every error shown inside `container`. */
export function clearProblems(container) {
  for (const slot of container.querySelectorAll(".field-error")) slot.textContent = "";
  for (const control of container.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const box of container.querySelectorAll(".form-alert")) box.remove();
}

/**
 * Show an API error inside `container`: each field error next to its field (the nearest enclosing field
 * path when the exact one is not on screen), the rest in an alert box at the top. Returns the number of
 * errors placed next to fields.
 */
export function showProblem(container, error, { aliases = {} } = {}) {
  clearProblems(container);
  const loose = [];
  let placed = 0;
  for (const { field: path, message } of error.errors || []) {
    const slot = findSlot(container, aliases[path] || path);
    if (slot) {
      slot.textContent = message;
      const control = container.querySelector(`[data-field="${cssEscape(slot.dataset.errorFor)}"]`);
      control?.setAttribute("aria-invalid", "true");
      if (placed === 0) control?.focus();
      placed += 1;
    } else {
      loose.push(path ? `${path}: ${message}` : message);
    }
  }
  if (loose.length || placed === 0) {
    const messages = loose.length ? loose : [error.message];
    container.prepend(
      h("div.form-alert", { role: "alert" }, h("strong", null, "Please fix: "), messages.length === 1
        ? messages[0]
        : h("ul", null, messages.map((message) => h("li", null, message)))),
    );
  }
  return placed;
}

function findSlot(container, path) {
  let candidate = path || "";
  while (candidate) {
    const slot = container.querySelector(`[data-error-for="${cssEscape(candidate)}"]`);
    if (slot) return slot;
    const cut = Math.max(candidate.lastIndexOf("."), candidate.lastIndexOf("["));
    candidate = cut > 0 ? candidate.slice(0, cut) : "";
  }
  return null;
}

function cssEscape(text) {
  return window.CSS?.escape ? CSS.escape(text) : text.replace(/"/g, '\\"');
}

/** A button that shows a spinner and disables itself while `action` runs. */
export function busyButton(label, action, attrs = {}) {
  const button = h("button.btn", { type: "button", ...attrs }, label);
  button.addEventListener("click", async (event) => {
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      await action(event);
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  });
  return button;
}
