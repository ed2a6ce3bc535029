// Runs tab: the run history, newest first; a live run's row updates in place while the screen polls.

import { h, replace } from "../../dom.js";
import { badge, dateTime } from "../../format.js";
import {
  dataTable, firstError, ingestionPath, listPage, numCell, pager, runCost, runDuration, runFiles, runRoute, runRows, timeAgo,
} from "./common.js";

const HEADERS = ["Status", "Run", "Trigger", "Started", ["Duration", true], ["Files", true], ["Rows", true],
  ["Cost", true], "First error"];
const PAGE = 25;

function runRow(ingestionId, run) {
  const when = run.started_at || run.requested_at;
  return h(
    "tr",
    { dataset: { runId: run.id, status: run.status } },
    h("td", null, badge(run.status)),
    h("td", null, h("a", { href: `#${runRoute(ingestionId, run.id)}`, title: `Run ${run.id}` }, dateTime(when))),
    h("td", null, run.trigger),
    h("td", null, timeAgo(when)),
    numCell(runDuration(run)),
    numCell(runFiles(run)),
    numCell(runRows(run)),
    numCell(runCost(run)),
    h("td.error-cell", null, firstError(run)),
  );
}

/**
 * Draw the runs list with "Load more"; `refresh` (called on each live poll) redraws the rows already shown.
 * @returns {Promise<{refresh: () => Promise<void>}>}
 */
export async function render(panel, ctx) {
  const body = h("tbody");
  const empty = h("p.empty", { hidden: true }, "No runs yet. Use “Run now” to start one.");
  let count = 0;
  const path = ingestionPath(ctx.id, "runs");
  const show = (items, first) => {
    if (first) replace(body);
    body.append(...items.map((run) => runRow(ctx.id, run)));
    count = body.children.length;
    empty.hidden = count > 0;
  };
  const pages = pager((cursor) => listPage(path, { limit: PAGE }, cursor, ctx.signal), show);
  replace(panel, h("h2", null, "Run history"), dataTable(HEADERS, [], { caption: "Runs, newest first", body }), empty,
    pages.element);
  await pages.reload();
  return {
    // Re-read as many runs as are shown so a page the user loaded stays in view.
    async refresh() {
      const page = await listPage(path, { limit: Math.min(500, Math.max(PAGE, count)) }, null, ctx.signal);
      show(page.items, true);
    },
  };
}
