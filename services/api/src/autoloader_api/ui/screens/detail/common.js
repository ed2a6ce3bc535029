// Helpers the detail tabs and the run screen share: API paths of one ingestion, tables, times and the
// figures of a run as the runs list and the run screen show them.

import { api } from "../../api.js";
import { h } from "../../dom.js";
import { dateTime, duration, money, number, relative } from "../../format.js";

/** The API path of an ingestion (or of one of its sub-resources: `ingestionPath(id, "runs")`). */
export function ingestionPath(id, ...rest) {
  return ["/ingestions", id, ...rest].map((part, index) => (index ? encodeURIComponent(part) : part)).join("/");
}

/** The UI route of an ingestion's tab ("" is the overview). */
export function tabRoute(id, tab = "") {
  return `/ingestions/${encodeURIComponent(id)}${tab ? `/${tab}` : ""}`;
}

/** The UI route of one run. */
export function runRoute(id, runId) {
  return `/ingestions/${encodeURIComponent(id)}/runs/${encodeURIComponent(runId)}`;
}

/** A <time> showing "3 min ago" with the exact time as its tooltip. */
export function timeAgo(iso) {
  if (!iso) return h("span.muted", null, "–");
  return h("time", { datetime: iso, title: dateTime(iso) }, relative(iso));
}

/**
 * A table in a scrolling wrapper.
 * @param {Array<string|[string, boolean]>} headers - labels; `[label, true]` for a numeric (right-aligned) column
 * @param {HTMLElement[]} rows - <tr> elements (or a <tbody> to fill later: pass `{body}`)
 * @param {{caption?: string, body?: HTMLElement}} options - caption is read by screen readers only
 */
export function dataTable(headers, rows, { caption, body } = {}) {
  const tbody = body || h("tbody");
  tbody.append(...rows);
  return h(
    "div.table-wrap",
    null,
    h(
      "table",
      null,
      caption ? h("caption.visually-hidden", null, caption) : null,
      h("thead", null, h("tr", null, headers.map(headCell))),
      tbody,
    ),
  );
}

function headCell(header) {
  const [label, numeric] = Array.isArray(header) ? header : [header, false];
  return h(numeric ? "th.num" : "th", { scope: "col" }, label);
}

/** A numeric table cell. */
export function numCell(value) {
  return h("td.num", null, value);
}

/** A `dl.summary` of [term, value] pairs (null values are left out). */
export function summaryList(pairs) {
  return h(
    "dl.summary",
    null,
    pairs.filter(([, value]) => value !== null && value !== undefined).map(([term, value]) => [
      h("dt", null, term),
      h("dd", null, value),
    ]),
  );
}

/** True while a run has not ended. */
export function isActive(status) {
  return status === "queued" || status === "running";
}

/** How long a run took (or has been running, for a live one). */
export function runDuration(run) {
  if (run.metrics?.duration_seconds !== undefined) return duration(run.metrics.duration_seconds);
  if (!run.started_at) return "–";
  const end = run.ended_at ? new Date(run.ended_at) : new Date();
  return duration(Math.max(0, (end - new Date(run.started_at)) / 1000));
}

/** Files a run loaded; while it runs, the files it found so far. */
export function runFiles(run) {
  const metrics = run.metrics || {};
  if (metrics.files_processed !== undefined) return number(metrics.files_processed);
  if (metrics.files_discovered !== undefined) return `${number(metrics.files_discovered)} found`;
  return "–";
}

export function runRows(run) {
  return number(run.metrics?.records_ingested);
}

/** The actual cost of a finished run, else its estimate. */
export function runCost(run) {
  const cost = run.cost || {};
  return money(cost.actual ?? cost.estimated, cost.currency || "USD");
}

/** The first thing that went wrong in a run (or why it was skipped), in its own words. */
export function firstError(run) {
  if (run.errors?.length) return run.errors[0].message;
  return run.skip_reason || "";
}

/**
 * A "Load more" pager over a cursor-paginated list.
 * @param {(cursor: string|null) => Promise<{items: any[], next_cursor: string|null}>} fetchPage
 * @param {(items: any[], first: boolean) => void} show - draws a page (first: the list starts over)
 * @returns {{element: HTMLElement, reload: () => Promise<void>}}
 */
export function pager(fetchPage, show) {
  let cursor = null;
  const button = h("button.btn", { type: "button" }, "Load more");
  const element = h("div.pager", null, button);
  const load = async (first) => {
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const page = await fetchPage(first ? null : cursor);
      cursor = page.next_cursor;
      show(page.items, first);
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
      element.hidden = !cursor;
    }
  };
  button.addEventListener("click", () => load(false));
  return { element, reload: () => load(true) };
}

/** One page of a list route: `listPage("/ingestions/x/files", {state}, cursor)`. */
export function listPage(path, params, cursor, signal) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries({ limit: 50, ...params, cursor })) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  return api(`${path}?${search}`, { signal });
}
