// Files tab: the file ledger (every file the ingestion has seen and what became of it), filtered by state.

import { h, replace } from "../../dom.js";
import { field, select } from "../../forms.js";
import { badge, bytes, number } from "../../format.js";
import { dataTable, ingestionPath, listPage, numCell, pager, runRoute, timeAgo } from "./common.js";

const STATES = ["discovered", "loading", "loaded", "failed", "skipped"];
const HEADERS = ["Path", "State", ["Size", true], "Modified", ["Rows", true], "Run", "Error"];

function fileRow(ingestionId, file) {
  return h(
    "tr",
    null,
    h("td.mono.path-cell", null, file.path),
    h("td", null, badge(file.state)),
    numCell(bytes(file.size)),
    h("td", null, timeAgo(file.modified_at)),
    numCell(number(file.rows)),
    h("td", null, file.run_id ? h("a", { href: `#${runRoute(ingestionId, file.run_id)}` }, "open run") : "–"),
    h("td.error-cell", null, file.error || ""),
  );
}

/** Draw the ledger with its state filter and "Load more". */
export async function render(panel, ctx) {
  const state = select([["", "All states"], ...STATES], { name: "state", value: ctx.query?.get("state") || "" });
  const body = h("tbody");
  const empty = h("p.empty", { hidden: true }, "No files in this state.");
  const show = (items, first) => {
    if (first) replace(body);
    body.append(...items.map((file) => fileRow(ctx.id, file)));
    empty.hidden = body.children.length > 0;
  };
  const pages = pager(
    (cursor) => listPage(ingestionPath(ctx.id, "files"), { state: state.value }, cursor, ctx.signal),
    show,
  );
  state.addEventListener("change", () => pages.reload());
  replace(
    panel,
    h("h2", null, "File ledger"),
    h("div.toolbar", null, field({ label: "State", name: "state", control: state })),
    dataTable(HEADERS, [], { caption: "Files", body }),
    empty,
    pages.element,
  );
  await pages.reload();
}
