// Dashboard: tenant totals and one row per ingestion with its health, schedule, last and next run and quick
// actions. The whole list is fetched (bounded) and filtered, sorted and paged here, so a search answers at once
// and sorting by last/next run works; totals and rows refresh every few seconds, so a run started from here is
// seen to finish without a reload.

import { allItems, api } from "../api.js";
import { navigate } from "../app.js";
import { confirmDialog, h, replace, toast, uid } from "../dom.js";
import { SOURCE_LABELS, badge, bytes, dateTime, money, number, percent, relative, tableName } from "../format.js";
import { every } from "../live.js";

const PAGE_SIZE = 25;
const COLUMNS = ["Ingestion", "Status", "Source → table", "Schedule", "Last run", "Next run", "Actions"];
const REFRESH_MS = 3000;
const HEALTH_FILTERS = ["healthy", "warning", "error", "paused", "draft"];
const SORTS = {
  name: ["Name", (a, b) => a.name.localeCompare(b.name)],
  last_run: ["Last run (newest first)", (a, b) => timeOf(b.metadata.last_run_time) - timeOf(a.metadata.last_run_time)],
  next_run: ["Next run (soonest first)", (a, b) => nextOf(a) - nextOf(b)],
};

function timeOf(iso) {
  return iso ? new Date(iso).getTime() : 0;
}

function nextOf(ingestion) {
  return ingestion.metadata.next_run_time ? new Date(ingestion.metadata.next_run_time).getTime() : Infinity;
}

/** Draw the dashboard into `main`; returns the function that stops its live refresh. */
export async function render(main, { query }) {
  const state = {
    items: [],
    filter: { health: query.get("health") || "", source: query.get("source") || "", q: query.get("q") || "" },
    sort: SORTS[query.get("sort")] ? query.get("sort") : "name",
    page: 0,
    refresh: async () => {},
  };
  const stats = h("section.stats", { "aria-label": "Totals" });
  const attention = h("div");
  const list = h("div");
  replace(
    main,
    h(
      "div.page-head",
      null,
      h("h1", null, "Ingestions"),
      h("div.actions", null, h("a.btn.btn-primary", { href: "#/new" }, "+ New ingestion")),
    ),
    stats,
    attention,
    toolbar(state, () => drawList(list, state)),
    list,
  );
  state.refresh = async () => {
    const [dashboard, items] = await Promise.all([api("/dashboard"), allItems("/ingestions?sort=name")]);
    state.items = items;
    drawStats(stats, dashboard);
    drawAttention(attention, dashboard.attention);
    drawList(list, state);
  };
  await state.refresh();
  return every(REFRESH_MS, state.refresh);
}

function stat(label, value, sub) {
  return h("div.stat", null, h("div.label", null, label), h("div.value", null, value), sub ? h("div.sub", null, sub) : null);
}

function drawStats(container, dashboard) {
  const { ingestions, last_24h: day, cost_this_month: cost, alerts } = dashboard;
  const byStatus = ingestions.by_status;
  replace(
    container,
    stat("Active ingestions", number(byStatus.active ?? 0), `${number(ingestions.total)} in all · ${number(byStatus.paused ?? 0)} paused · ${number(byStatus.draft ?? 0)} drafts`),
    stat("Files, last 24 h", number(day.files), `${bytes(day.bytes)} · ${number(day.rows)} rows`),
    stat("Success rate, last 24 h", day.success_rate === null ? "–" : percent(day.success_rate * 100), `${plural(day.runs, "run")} · ${number(day.failed_runs)} failed`),
    stat("Cost this month", money(cost.amount, cost.currency)),
    stat("Active alerts", number(alerts.active), alerts.active ? "see the list below" : "nothing needs attention"),
  );
}

function plural(count, word) {
  return `${number(count)} ${word}${count === 1 ? "" : "s"}`;
}

function drawAttention(container, items) {
  if (!items?.length) {
    replace(container);
    return;
  }
  replace(
    container,
    h(
      "section.notice.notice-warn.attention",
      { "aria-label": "Needs attention" },
      h("strong", null, "Needs attention"),
      h("ul", null, items.map((item) => h("li", null, h("a", { href: `#/ingestions/${item.ingestion_id}` }, item.name), ` — ${item.reason}`))),
    ),
  );
}

function toolbar(state, redraw) {
  const search = h("input", { type: "search", id: uid("q"), value: state.filter.q, placeholder: "name contains…" });
  const health = choice([["", "Any status"], ...HEALTH_FILTERS.map((s) => [s, s])], state.filter.health);
  const source = choice([["", "Any source"], ...Object.entries(SOURCE_LABELS)], state.filter.source);
  const sort = choice(Object.entries(SORTS).map(([key, [label]]) => [key, label]), state.sort);
  const update = () => {
    state.filter = { q: search.value.trim(), health: health.value, source: source.value };
    state.sort = sort.value;
    state.page = 0;
    redraw();
  };
  search.addEventListener("input", update);
  for (const control of [health, source, sort]) control.addEventListener("change", update);
  return h(
    "div.toolbar",
    { role: "search" },
    labelled("Search by name", search, "grow"),
    labelled("Status", health),
    labelled("Source type", source),
    labelled("Sort by", sort),
  );
}

function choice(options, value) {
  const element = h("select", { id: uid("sel") });
  for (const [optionValue, label] of options) element.append(h("option", { value: optionValue }, label));
  element.value = value;
  return element;
}

function labelled(label, control, extra) {
  return h(`div.field${extra ? `.${extra}` : ""}`, null, h("label", { for: control.id }, label), control);
}

function visible(state) {
  const { q, health, source } = state.filter;
  const needle = q.toLowerCase();
  return state.items
    .filter((item) => !needle || item.name.toLowerCase().includes(needle))
    .filter((item) => !health || item.metadata.health === health)
    .filter((item) => !source || item.source.type === source)
    .sort(SORTS[state.sort][1]);
}

function drawList(container, state) {
  const refresh = state.refresh;
  const rows = visible(state);
  if (!state.items.length) {
    replace(container, h("div.panel.empty", null, "No ingestions yet. ", h("a", { href: "#/new" }, "Create your first ingestion"), "."));
    return;
  }
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  // Keep focus on the button that had it: the rows are redrawn every few seconds.
  const focusKey = document.activeElement?.dataset?.focusKey;
  replace(
    container,
    h(
      "div.table-wrap",
      null,
      h(
        "table",
        { "aria-label": "Ingestions", class: "cards-narrow" },
        h("thead", null, h("tr", null, COLUMNS.map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", null, shown.length ? shown.map((item) => row(item, refresh)) : h("tr", null, h("td.empty", { colspan: 7 }, "No ingestion matches these filters."))),
      ),
    ),
    pager(state, rows.length, pages, () => drawList(container, state)),
  );
  if (focusKey) container.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

function pager(state, total, pages, redraw) {
  if (pages <= 1) return h("p.muted.pager", null, `${number(total)} ingestion${total === 1 ? "" : "s"}`);
  const go = (page) => () => {
    state.page = page;
    redraw();
  };
  return h(
    "nav.pager",
    { "aria-label": "Pages" },
    h("span.muted", null, `${number(total)} ingestions · page ${state.page + 1} of ${pages}`),
    h("button.btn.btn-small", { type: "button", disabled: state.page === 0, onclick: go(state.page - 1) }, "‹ Previous"),
    h("button.btn.btn-small", { type: "button", disabled: state.page >= pages - 1, onclick: go(state.page + 1) }, "Next ›"),
  );
}

function row(item, refresh) {
  const meta = item.metadata;
  const cells = h(
    "tr",
    { dataset: { ingestionId: item.id } },
    h("td", null, h("a.ingestion-name", { href: `#/ingestions/${item.id}` }, item.name)),
    h("td", null, badge(meta.health), meta.active_alerts.length ? h("div.muted", null, `${meta.active_alerts.length} alert${meta.active_alerts.length > 1 ? "s" : ""}`) : null),
    h("td", null, h("div", null, SOURCE_LABELS[item.source.type] || item.source.type), h("div.path", null, `${item.source.path} → `, h("span.mono", null, tableName(item.destination)))),
    h("td", null, meta.schedule_description || item.schedule.frequency),
    h("td.nowrap", null, lastRun(item)),
    h("td.nowrap", { title: dateTime(meta.next_run_time) }, meta.next_run_time ? relative(meta.next_run_time) : "–"),
    h("td", null, actions(item, refresh)),
  );
  // On a phone each row becomes a card; the column titles go with the cells (see .cards-narrow).
  cells.querySelectorAll("td").forEach((cell, index) => cell.setAttribute("data-label", COLUMNS[index]));
  return cells;
}

function lastRun(item) {
  const meta = item.metadata;
  if (meta.current_run) {
    return h("span", { dataset: { runState: meta.current_run.status } }, badge(meta.current_run.status), " ", h("a", { href: `#/ingestions/${item.id}/runs/${meta.current_run.run_id}` }, "now"));
  }
  if (!meta.last_run_time) return h("span.muted", null, "never");
  return h(
    "span",
    { title: dateTime(meta.last_run_time), dataset: { runState: meta.last_run_status } },
    badge(meta.last_run_status),
    " ",
    meta.last_run_id ? h("a", { href: `#/ingestions/${item.id}/runs/${meta.last_run_id}` }, relative(meta.last_run_time)) : relative(meta.last_run_time),
  );
}

function actions(item, refresh) {
  const buttons = [];
  const act = (label, key, run, attrs = {}) =>
    h("button.btn.btn-small", { type: "button", "aria-label": `${label} ${item.name}`, dataset: { focusKey: `${item.id}:${key}` }, onclick: run, ...attrs }, label);
  if (item.status !== "draft") {
    buttons.push(act("Run now", "run", () => perform(`/ingestions/${item.id}/run`, `Run of ${item.name} started.`, refresh), { disabled: Boolean(item.metadata.current_run) }));
  }
  if (item.status === "active") {
    buttons.push(act("Pause", "pause", () => perform(`/ingestions/${item.id}/pause`, `${item.name} paused.`, refresh)));
  } else if (item.status === "paused") {
    buttons.push(act("Resume", "pause", () => perform(`/ingestions/${item.id}/resume`, `${item.name} resumed.`, refresh)));
  } else if (item.status === "draft") {
    buttons.push(act("Activate", "pause", () => perform(`/ingestions/${item.id}/activate`, `${item.name} is active.`, refresh)));
  }
  buttons.push(h("a.btn.btn-small", { href: `#/ingestions/${item.id}/edit`, "aria-label": `Edit ${item.name}` }, "Edit"));
  buttons.push(act("Delete", "delete", () => remove(item, refresh)));
  return h("div.actions", null, buttons);
}

async function perform(path, done, refresh) {
  try {
    await api(path, { method: "POST" });
    toast(done, "ok");
  } catch (error) {
    toast(error.message, "error");
  }
  await refresh();
}

async function remove(item, refresh) {
  const dropTable = h("input", { type: "checkbox", id: uid("drop") });
  const confirmed = await confirmDialog({
    title: `Delete ${item.name}?`,
    body: [
      h("p", null, "Its schedule stops and its configuration, run history and file ledger are removed."),
      h("div.field.field-check", null, dropTable, h("label", { for: dropTable.id }, `Also delete the table ${tableName(item.destination)} and its data`)),
    ],
    confirmLabel: "Delete",
    danger: true,
  });
  if (!confirmed) return;
  try {
    await api(`/ingestions/${item.id}?delete_table=${dropTable.checked}`, { method: "DELETE" });
    toast(`${item.name} deleted.`, "ok");
  } catch (error) {
    toast(error.message, "error");
  }
  await refresh();
  if (location.hash.startsWith(`#/ingestions/${item.id}`)) navigate("/");
}
