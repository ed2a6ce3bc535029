// Step 5: what the first run would do with the whole configuration (POST /ingestions/test?sample_rows=20):
// files, sample rows, schema diff, warnings, malformed records, and the cost with the always-on comparison.

import { h, replace } from "../../dom.js";
import { showProblem } from "../../forms.js";
import { bytes, dateTime, duration, money, number, percent } from "../../format.js";
import { dataTable, section } from "./parts.js";
import { preview, previewsSaved } from "./preview.js";

export const title = "Preview & cost";

/** Draw the last step: the preview starts at once; the wizard adds the create buttons. */
export function render(panel, ctx) {
  const result = h("div.review", { "aria-live": "polite" });
  const again = h("button.btn", { type: "button", onclick: () => load(panel, ctx, result) }, "Preview again");
  replace(
    panel,
    previewsSaved(ctx) ? h("p.hint", null, "Preview of the saved ingestion's next run (its stored credentials and file ledger).") : null,
    result,
    h("div.actions", null, again),
  );
  load(panel, ctx, result);
}

async function load(panel, ctx, slot) {
  const outcome = await preview(ctx, { slot, label: "Listing the files and reading a sample… this can take a few seconds." });
  if (outcome.ok) replace(slot, report(outcome.value));
  else if (outcome.aborted) replace(slot, h("p.muted", null, "Preview cancelled. You can still create the ingestion, or preview again."));
  else {
    replace(slot);
    showProblem(panel, outcome.error);
  }
  return outcome;
}

function report(result) {
  if (!result.connection.reachable || !result.connection.authorised) {
    return h("p.notice.notice-warn", { role: "alert" }, h("strong", null, "✕ The source could not be read: "), result.connection.message);
  }
  return [
    warnings(result.warnings),
    h("div.review-grid", null, filesBlock(result), costBlock(result.cost)),
    sampleBlock(result.sample_data),
    diffBlock(result.schema_diff),
    malformedBlock(result.malformed),
  ];
}

function warnings(list) {
  if (!list?.length) return null;
  return h("div.notice.notice-warn", { role: "note" }, h("strong", null, "! Warnings"), h("ul", null, list.map((text) => h("li", null, text))));
}

function filesBlock(result) {
  const { files } = result;
  const count = `${files.count_is_lower_bound ? "at least " : ""}${number(files.count)}`;
  return section(
    "Files the first run would load",
    h(
      "dl.summary",
      null,
      h("dt", null, "Files"), h("dd", null, count),
      h("dt", null, "Size"), h("dd", null, bytes(files.bytes)),
      h("dt", null, "Rows (estimate)"), h("dd", null, number(result.estimated_records)),
      files.already_known ? [h("dt", null, "Already loaded"), h("dd", null, number(files.already_known))] : null,
      files.backlog_files ? [h("dt", null, "Left for later runs"), h("dd", null, `${number(files.backlog_files)} (${bytes(files.backlog_bytes)})`)] : null,
      files.unsettled ? [h("dt", null, "Still being written"), h("dd", null, number(files.unsettled))] : null,
    ),
    dataTable({
      caption: "First files",
      rows: files.first.slice(0, 10),
      empty: "No new files match.",
      columns: [
        { label: "File", value: (file) => h("span.mono", null, file.path) },
        { label: "Size", value: (file) => bytes(file.size), num: true },
        { label: "Modified", value: (file) => dateTime(file.modified_at) },
      ],
    }),
  );
}

function costBlock(cost) {
  if (!cost) return section("Cost", h("p.muted", null, "No estimate (nothing to size yet)."));
  const perRun = cost.compute_per_run + cost.discovery_per_run;
  return section(
    "Estimated cost",
    h("p.cost-total", null, h("span.cost-label", null, "Monthly total "), h("strong", null, money(cost.total_monthly, cost.currency))),
    h(
      "dl.summary",
      null,
      h("dt", null, "Per run"), h("dd", null, money(perRun, cost.currency)),
      h("dt", null, "Runs per month"), h("dd", null, number(cost.runs_per_month)),
      h("dt", null, "Run time"), h("dd", null, duration(cost.estimated_duration_seconds)),
      h("dt", null, "Compute"), h("dd", null, `${money(cost.compute_monthly, cost.currency)} / month`),
      h("dt", null, "Storage"), h("dd", null, `${money(cost.storage_monthly, cost.currency)} / month`),
      h("dt", null, "Always-on cluster"), h("dd", null, `${money(cost.always_on_monthly, cost.currency)} / month (${number(cost.always_on_cluster_hours)} h)`),
      h("dt", null, "Savings"), h("dd", null, `${money(cost.savings_monthly, cost.currency)} / month (${percent(cost.savings_percent)})`),
    ),
    cost.assumptions?.hourly_price === 0
      ? h("p.hint", null, "The chosen engine has no hourly price, so compute is free here; give a cluster a price to compare.")
      : null,
  );
}

function sampleBlock(rows) {
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return section(
    "Sample rows",
    dataTable({
      caption: "Sample rows",
      scroll: true,
      rows,
      empty: "No rows in the sample.",
      columns: columns.map((name) => ({ label: name, value: (row) => cell(row[name]) })),
    }),
  );
}

function cell(value) {
  if (value === null || value === undefined) return h("span.muted", null, "null");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function diffBlock(diff) {
  const changes = [
    ...diff.added.map((c) => ["added", c.name, c.new_type]),
    ...diff.removed.map((c) => ["removed", c.name, c.old_type]),
    ...diff.changed.map((c) => ["changed", c.name, `${c.old_type} → ${c.new_type}`]),
  ];
  const headline = diff.table_exists ? "Existing table" : "New table";
  return section(
    "Schema against the table",
    h("p", null, h("strong", null, `${headline}: `), diff.message || diff.action),
    changes.length
      ? dataTable({
          caption: "Schema changes",
          rows: changes,
          columns: [
            { label: "Change", value: (c) => c[0] },
            { label: "Column", value: (c) => h("span.mono", null, c[1]) },
            { label: "Type", value: (c) => h("span.mono", null, c[2] || "") },
          ],
        })
      : null,
  );
}

function malformedBlock(malformed) {
  if (!malformed.count) return section("Malformed records", h("p.muted", null, "✓ None in the sample."));
  return section(
    "Malformed records",
    h("p.notice.notice-warn", null, `! ${number(malformed.count)} record(s) the bad-data policy would reject.`),
    dataTable({
      caption: "Malformed records",
      rows: malformed.records,
      columns: [
        { label: "File", value: (r) => h("span.mono", null, r.file) },
        { label: "Line", value: (r) => number(r.line), num: true },
        { label: "Problem", value: (r) => r.message },
      ],
    }),
  );
}

/** The last step has no Next; its check is the create call itself. */
export async function validate() {
  return true;
}
