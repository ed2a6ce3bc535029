// The ingestion detail screen: a head with the actions, tab links, and the chosen tab drawn by its module.
// While a run is queued or running the screen polls the ingestion every 2 s and hands each answer to the head
// and the tab, so statuses and counts move without a reload.

import { api } from "../api.js";
import { navigate } from "../app.js";
import { h, replace } from "../dom.js";
import { every } from "../live.js";
import { ingestionPath, tabRoute } from "./detail/common.js";
import { detailHeader } from "./detail/header.js";
import * as events from "./detail/events.js";
import * as files from "./detail/files.js";
import * as operations from "./detail/operations.js";
import * as overview from "./detail/overview.js";
import * as runs from "./detail/runs.js";
import * as schema from "./detail/schema.js";
import * as table from "./detail/table.js";

const TABS = [
  ["overview", "Overview", overview],
  ["runs", "Runs", runs],
  ["schema", "Schema", schema],
  ["files", "Files", files],
  ["table", "Table", table],
  ["events", "Events", events],
  ["operations", "Operations", operations],
];
const POLL_MS = 2000;
// After "Run now" the run may take a moment to show on the ingestion; stop looking after this many polls.
const MAX_WAIT_POLLS = 30;

function tabLinks(id, current) {
  return h(
    "nav.tabs",
    { "aria-label": "Ingestion sections" },
    TABS.map(([name, label]) =>
      h("a", { href: `#${tabRoute(id, name === "overview" ? "" : name)}`, "aria-current": name === current ? "page" : null },
        label),
    ),
  );
}

/** A poller of the ingestion that runs while a run is in progress (or just requested). */
function liveWatch(ctx, onUpdate) {
  let stop = null;
  let awaiting = null;
  let waited = 0;
  const tick = async () => {
    const ingestion = await api(ingestionPath(ctx.id), { signal: ctx.signal });
    const { current_run: current, last_run_id: lastId } = ingestion.metadata || {};
    if (awaiting && (current?.run_id === awaiting || lastId === awaiting || ++waited > MAX_WAIT_POLLS)) awaiting = null;
    await onUpdate(ingestion);
    if (!current && !awaiting) halt();
  };
  const halt = () => {
    stop?.();
    stop = null;
  };
  return {
    watch(runId) {
      if (runId) [awaiting, waited] = [runId, 0];
      if (!stop) stop = every(POLL_MS, tick);
    },
    halt,
  };
}

// A tab that cannot load says so inside its panel; the head and the other tabs stay usable.
async function renderTab([, label, module], panel, ctx) {
  try {
    return (await module.render(panel, ctx)) || null;
  } catch (error) {
    if (error.name === "AbortError") return null;
    replace(panel, h("h2", null, label), h("p.form-alert", { role: "alert" }, `This section could not be loaded: ${error.message}`));
    return null;
  }
}

/**
 * Draw the detail screen of `params.id` with the tab `params.tab` (overview when absent).
 * @returns {Promise<() => void>} cleanup: stops polling and aborts requests
 */
export async function render(main, params) {
  const name = params.tab || "overview";
  const tab = TABS.find(([key]) => key === name);
  if (!tab) {
    navigate(tabRoute(params.id));
    return null;
  }
  const controller = new AbortController();
  const ingestion = await api(ingestionPath(params.id), { signal: controller.signal });
  const ctx = {
    id: params.id,
    ingestion,
    query: params.query,
    signal: controller.signal,
    reload: () => navigate(tabRoute(params.id, name === "overview" ? "" : name)),
  };
  const panel = h("section.panel.tab-panel", { "aria-label": tab[1] });
  let shown = null;
  const live = liveWatch(ctx, async (fresh) => {
    ctx.ingestion = fresh;
    head.update(fresh);
    await shown?.refresh?.(fresh);
  });
  ctx.watchRun = (runId) => live.watch(runId);
  const head = detailHeader(ingestion, ctx);
  replace(main, head.element, tabLinks(params.id, name), panel);
  shown = await renderTab(tab, panel, ctx);
  if (ingestion.metadata?.current_run) live.watch();
  return () => {
    live.halt();
    controller.abort();
    shown?.cleanup?.();
  };
}
