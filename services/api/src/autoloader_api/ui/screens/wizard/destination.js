// Step 3: the Iceberg table (catalog.db.table, new or existing), how runs write to it, partitioning, lineage.

import { h, replace, uid } from "../../dom.js";
import { checkbox, field, input, showProblem } from "../../forms.js";
import { choiceGroup, fieldError, section, splitList } from "./parts.js";
import { preview } from "./preview.js";
import { tableSlug } from "./state.js";

const WRITE_MODES = [
  { value: "append", label: "Append", description: "Each run adds its rows to the table." },
  { value: "overwrite", label: "Overwrite", description: "Each run replaces the table's contents with its files' rows." },
  { value: "merge", label: "Merge (upsert)", description: "Rows with a known key replace the old ones; new keys are inserted." },
];

const CHECK_DELAY_MS = 700;

export const title = "Destination";

/** Draw the destination step; whether the table exists comes from the preview. */
export function render(panel, ctx) {
  const { destination } = ctx.draft;
  if (!destination.table && !ctx.id) destination.table = tableSlug(ctx.draft.name);
  const shown = h("output.table-name.mono", { "aria-live": "polite" });
  const status = h("div.table-status", { "aria-live": "polite" });
  const showName = () => (shown.textContent = [destination.catalog, destination.database || "…", destination.table || "…"].join("."));
  const part = (name, label, hint) => {
    const control = input({
      value: destination[name],
      disabled: ctx.frozen,
      // Checked a moment after typing stops, not on change: a change fires as the user clicks Next, and the
      // progress line appearing then would move the button away from under the pointer.
      oninput: (event) => {
        destination[name] = event.target.value.trim();
        showName();
        clearTimeout(ctx.tableTimer);
        ctx.tableTimer = setTimeout(() => checkTable(panel, ctx, status), CHECK_DELAY_MS);
      },
    });
    return field({ label, name: `destination.${name}`, control, required: true, hint });
  };
  showName();
  replace(
    panel,
    ctx.frozen ? h("p.notice", null, ctx.frozenReason) : null,
    h("div.grid-3", null, part("catalog", "Catalog", "Usually lake."), part("database", "Database", "Created when missing."), part("table", "Table", "Letters, digits, _")),
    h("p.table-line", null, "Table: ", shown),
    status,
    writeMode(ctx),
    partitioning(ctx),
    checkbox({
      label: "Add lineage columns (_source_file, _source_modified_at, _ingest_run_id, _ingested_at)",
      name: "destination.lineage_columns",
      checked: destination.lineage_columns,
    }),
  );
  const lineage = panel.querySelector('[data-field="destination.lineage_columns"]');
  lineage.disabled = ctx.frozen;
  lineage.addEventListener("change", () => (destination.lineage_columns = lineage.checked));
  if (destination.database && destination.table) checkTable(panel, ctx, status);
}

function writeMode(ctx) {
  const { destination } = ctx.draft;
  const keys = input({
    value: destination.merge_keys.join(", "),
    placeholder: "id",
    disabled: ctx.frozen,
    list: columnList(ctx),
    oninput: (event) => (destination.merge_keys = splitList(event.target.value)),
  });
  const keyField = field({ label: "Merge keys", name: "destination.merge_keys", control: keys, required: true, hint: "Columns that identify a row, separated by commas." });
  keyField.hidden = destination.write_mode !== "merge";
  return section(
    "How runs write",
    choiceGroup({
      legend: "Write mode",
      name: "destination.write_mode",
      options: WRITE_MODES,
      value: destination.write_mode,
      disabled: ctx.frozen,
      onChange: (value) => {
        destination.write_mode = value;
        keyField.hidden = value !== "merge";
      },
    }),
    keyField,
    ctx.columnList,
  );
}

// Column names from the inferred schema, offered as suggestions for keys and partitions.
function columnList(ctx) {
  const id = uid("columns");
  ctx.columnList = h("datalist", { id }, (ctx.schema || []).map((column) => h("option", { value: column.name })));
  return id;
}

function partitioning(ctx) {
  const { partitioning: spec } = ctx.draft.destination;
  const columns = input({
    value: spec.columns.join(", "),
    placeholder: "day(created_at), country",
    disabled: ctx.frozen,
    oninput: (event) => {
      spec.columns = splitList(event.target.value);
      spec.enabled = spec.columns.length > 0;
    },
  });
  return section(
    "Partitioning",
    field({
      label: "Partition columns",
      name: "destination.partitioning.columns",
      control: columns,
      hint: "Optional, applied when the table is created: a column, year|month|day|hour(col), bucket(n, col) or truncate(w, col).",
    }),
  );
}

async function checkTable(panel, ctx, slot) {
  const { destination } = ctx.draft;
  if (!destination.catalog || !destination.database || !destination.table) return { ok: false };
  const outcome = await preview(ctx, { complete: false, slot, label: "Looking the table up…" });
  if (outcome.ok) replace(slot, tableStatus(outcome.value.schema_diff));
  else if (outcome.aborted) replace(slot, h("p.muted", null, "Table check cancelled."));
  else {
    replace(slot);
    showProblem(panel, outcome.error); // "columns[1]" lands on the columns field
  }
  return outcome;
}

function tableStatus(diff) {
  if (!diff.table_exists) return h("p.notice", null, h("strong", null, "New table: "), "it is created on the first run.");
  const tone = diff.action === "none" ? "notice-ok" : "notice-warn";
  return h(`p.notice.${tone}`, null, h("strong", null, "Existing table: "), diff.message || `action ${diff.action}`);
}

/** Next: names and merge keys are filled, then the API checks the destination through the preview. */
export async function validate(panel, ctx) {
  const { destination } = ctx.draft;
  for (const name of ["catalog", "database", "table"]) {
    if (!destination[name]) return fieldError(panel, `destination.${name}`, `Enter the ${name} name.`);
  }
  if (destination.write_mode === "merge" && !destination.merge_keys.length) {
    return fieldError(panel, "destination.merge_keys", "Merge needs at least one key column, e.g. id.");
  }
  clearTimeout(ctx.tableTimer);
  const outcome = await checkTable(panel, ctx, panel.querySelector(".table-status"));
  return outcome.ok;
}
