// Table tab: the destination table as the catalog has it (schema, row count, snapshots) and a sample of rows.

import { ApiError, api } from "../../api.js";
import { h, replace } from "../../dom.js";
import { dateTime, number, tableName } from "../../format.js";
import { dataTable, ingestionPath, numCell, runRoute, summaryList } from "./common.js";

const SAMPLE_ROWS = 20;

function schemaTable(columns) {
  return dataTable(
    [["#", true], "Column", "Type", "Required"],
    columns.map((column) =>
      h("tr", null, numCell(column.id), h("td.mono", null, column.name), h("td.mono", null, column.type),
        h("td", null, column.required ? "yes" : "no")),
    ),
    { caption: "Table columns" },
  );
}

function snapshotRow(ingestionId, snapshot) {
  const summary = snapshot.summary || {};
  const runId = summary["autoloader.run-id"];
  return h(
    "tr",
    null,
    h("td.mono", null, String(snapshot.snapshot_id)),
    h("td", null, dateTime(snapshot.timestamp)),
    h("td", null, snapshot.operation || summary.operation || "–"),
    numCell(number(summary["added-records"] ? Number(summary["added-records"]) : null)),
    numCell(number(summary["total-records"] ? Number(summary["total-records"]) : null)),
    h("td", null, runId ? h("a", { href: `#${runRoute(ingestionId, runId)}` }, "open run") : "–"),
  );
}

function snapshotsTable(ingestionId, snapshots) {
  // Newest first, like every other history on this screen.
  const rows = [...snapshots].reverse().map((snapshot) => snapshotRow(ingestionId, snapshot));
  return dataTable(["Snapshot", "Committed", "Operation", ["Rows added", true], ["Total rows", true], "Run"], rows,
    { caption: "Snapshots, newest first" });
}

function cellText(value) {
  if (value === null || value === undefined) return h("span.muted", null, "null");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function sampleTable(columns, rows) {
  if (!rows.length) return h("p.empty", null, "The table has no rows yet.");
  const names = columns.length ? columns.map((column) => column.name) : Object.keys(rows[0]);
  return dataTable(names, rows.map((row) => h("tr", null, names.map((name) => h("td.mono", null, cellText(row[name]))))),
    { caption: `First ${rows.length} rows` });
}

function noTable(ingestion) {
  return [
    h("h2", null, "Destination table"),
    h("p.notice", null, `No table yet: the first run that loads files creates ${tableName(ingestion.destination)}.`),
  ];
}

/** Draw the destination table, or say that it does not exist yet. */
export async function render(panel, ctx) {
  let description;
  try {
    description = await api(ingestionPath(ctx.id, "table"), { signal: ctx.signal });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
      replace(panel, ...noTable(ctx.ingestion));
      return;
    }
    throw error;
  }
  const sample = await api(`${ingestionPath(ctx.id, "table", "sample")}?limit=${SAMPLE_ROWS}`, { signal: ctx.signal });
  replace(
    panel,
    h("h2", null, "Destination table"),
    summaryList([
      ["Table", h("span.mono", null, description.identifier)],
      ["Rows", number(description.row_count)],
      ["Location", h("span.mono", null, description.location)],
      ["Snapshots", number(description.snapshots.length)],
    ]),
    h("h3", null, "Columns"),
    schemaTable(description.schema),
    h("h3", null, "Sample rows"),
    sampleTable(description.schema, sample.rows),
    h("h3", null, "Snapshots"),
    snapshotsTable(ctx.id, description.snapshots),
  );
}
