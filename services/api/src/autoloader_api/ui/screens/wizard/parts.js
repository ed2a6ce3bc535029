// Building blocks the wizard's steps share: choice groups (radio cards), long-running tasks with Cancel,
// simple tables, and error placement that does not steal focus while the user types.

import { h, replace, uid } from "../../dom.js";

/**
 * A group of radio buttons with a legend; each option may carry a one-line description.
 * @param {{legend: string, name: string, options: {value: string, label: string, description?: string}[],
 *   value: string, onChange: (value: string) => void, cards?: boolean, disabled?: boolean, hint?: string}} spec
 *   `name` is the API body path (errors for it land in the group's error slot).
 */
export function choiceGroup({ legend, name, options, value, onChange, cards = false, disabled = false, hint }) {
  const group = uid("choice");
  const errorId = `${group}-error`;
  const items = options.map((option) => choiceItem(option, { group, name, value, onChange, disabled, errorId }));
  return h(
    `fieldset.choices${cards ? ".choice-cards" : ""}`,
    { dataset: { fieldWrap: name }, disabled },
    h("legend", null, legend),
    hint ? h("p.hint", null, hint) : null,
    h("div.choice-list", null, items),
    h("p.field-error", { id: errorId, dataset: { errorFor: name } }),
  );
}

function choiceItem(option, { group, name, value, onChange, disabled, errorId }) {
  const id = uid("opt");
  const descriptionId = option.description ? `${id}-desc` : null;
  const radio = h("input", {
    type: "radio",
    id,
    name: group,
    value: option.value,
    checked: option.value === value,
    disabled,
    dataset: { field: name },
    "aria-describedby": [descriptionId, errorId].filter(Boolean).join(" "),
    onchange: () => onChange(option.value),
  });
  // The description is outside the label (tied by aria-describedby) so the option's name stays short.
  return h(
    "div.choice",
    null,
    radio,
    h(
      "div.choice-text",
      null,
      h("label.choice-label", { for: id }, option.label),
      option.description ? h("span.choice-description", { id: descriptionId }, option.description) : null,
    ),
  );
}

/**
 * Run `work(signal)` with a visible progress line and a Cancel button inside `slot`.
 * @returns {Promise<{ok: true, value: any} | {ok: false, aborted: boolean, error?: any}>}
 */
export async function cancellable(slot, label, work, registry) {
  const controller = new AbortController();
  registry?.add(controller);
  const cancel = h("button.btn.btn-small", { type: "button", onclick: () => controller.abort() }, "Cancel");
  replace(slot, h("div.task", { role: "status" }, h("span.spinner", { "aria-hidden": "true" }), h("span", null, label), cancel));
  try {
    return { ok: true, value: await work(controller.signal) };
  } catch (error) {
    if (error.name === "AbortError") return { ok: false, aborted: true };
    return { ok: false, aborted: false, error };
  } finally {
    registry?.delete(controller);
    slot.querySelector(".task")?.remove();
  }
}

/**
 * A table of objects inside a scrollable wrapper.
 * @param {{caption: string, columns: {label: string, value: (row: any) => any, num?: boolean}[], rows: any[],
 *   empty?: string, scroll?: boolean}} spec
 */
export function dataTable({ caption, columns, rows, empty = "Nothing to show.", scroll = false }) {
  if (!rows.length) return h("p.empty", null, empty);
  const head = h("tr", null, columns.map((column) => h(`th${column.num ? ".num" : ""}`, { scope: "col" }, column.label)));
  const body = rows.map((row) =>
    h("tr", null, columns.map((column) => h(`td${column.num ? ".num" : ""}`, null, column.value(row)))),
  );
  return h(
    `div.table-wrap${scroll ? ".table-scroll" : ""}`,
    { tabindex: scroll ? "0" : null, role: scroll ? "region" : null, "aria-label": scroll ? caption : null },
    h("table", null, h("caption.visually-hidden", null, caption), h("thead", null, head), h("tbody", null, body)),
  );
}

/** Put each API field error into its slot inside `container` without moving focus (used while typing). */
export function markErrors(container, error) {
  clearMarks(container);
  let placed = 0;
  for (const { field: path, message } of error.errors || []) {
    const slot = container.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    if (!slot) continue;
    slot.textContent = message;
    container.querySelector(`[data-field="${CSS.escape(path)}"]`)?.setAttribute("aria-invalid", "true");
    placed += 1;
  }
  return placed;
}

/** Remove the errors of the given body paths (or all) inside `container`. */
export function clearMarks(container, paths = null) {
  for (const slot of container.querySelectorAll("[data-error-for]")) {
    if (paths && !paths.includes(slot.dataset.errorFor)) continue;
    slot.textContent = "";
    container.querySelector(`[data-field="${CSS.escape(slot.dataset.errorFor)}"]`)?.removeAttribute("aria-invalid");
  }
}

/** Show a client-side "required" message next to a field; returns false so callers can `return requireFail(...)`. */
export function fieldError(container, path, message) {
  const slot = container.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
  if (slot) slot.textContent = message;
  const control = container.querySelector(`[data-field="${CSS.escape(path)}"]`);
  control?.setAttribute("aria-invalid", "true");
  control?.focus();
  return false;
}

/** Split "a, b ,c" into ["a", "b", "c"]. */
export function splitList(text) {
  return String(text || "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

/** A heading + body block inside a step. */
export function section(title, ...children) {
  return h("section.wizard-section", null, h("h3", null, title), ...children);
}

/**
 * The choices to offer: the names the API accepts (GET /capabilities), in its order, each with this file's words
 * for it, or its own name when the UI has none yet. The API decides what exists; the UI only describes it.
 * @param {string[]|undefined} accepted - names from the capabilities (undefined: offer `described` as is)
 * @param {object[]} described - the UI's entries
 * @param {(entry: object) => string} nameOf - the accepted name an entry describes
 * @param {(name: string) => object} plain - an entry for a name the UI has no words for
 */
export function offered(accepted, described, nameOf, plain) {
  if (!accepted) return described;
  const byName = new Map(described.map((entry) => [nameOf(entry), entry]));
  return accepted.map((name) => byName.get(name) || plain(name));
}

/** "connect_timeout" → "Connect timeout": a label for a name the UI has no words for. */
export function humanise(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
