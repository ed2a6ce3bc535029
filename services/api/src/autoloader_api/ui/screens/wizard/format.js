// Step 2: the file format and its reader options, the schema inferred from a sample (the preview), the
// evolution mode and the bad-data policy (docs/formats.md).

import { h, replace } from "../../dom.js";
import { checkbox, field, input, select, showProblem } from "../../forms.js";
import { percent } from "../../format.js";
import { choiceGroup, dataTable, humanise, offered, section } from "./parts.js";
import { preview } from "./preview.js";

const FORMATS = [
  ["csv", "CSV"],
  ["tsv", "TSV (tab-separated)"],
  ["json", "JSON / JSON lines"],
  ["jsonl", "JSON lines (.jsonl)"],
  ["parquet", "Parquet"],
  ["avro", "Avro"],
  ["orc", "ORC"],
];
const TEXT = ["csv", "tsv", "json", "jsonl"];
// The preview lists the lineage columns too; the schema table shows the files' own columns.
export const LINEAGE = ["_source_file", "_source_modified_at", "_ingest_run_id", "_ingested_at"];
const CSV_TEXT_OPTIONS = [
  { name: "delimiter", label: "Delimiter", placeholder: ",", maxlength: 4 },
  { name: "quote", label: "Quote character", placeholder: '"', maxlength: 1 },
  { name: "escape", label: "Escape character", placeholder: "none", maxlength: 1 },
  { name: "null_value", label: "Null value", placeholder: "(empty)" },
  { name: "encoding", label: "Encoding", placeholder: "utf8" },
];

export const EVOLUTION = [
  { value: "add_new_columns", label: "Add new columns", description: "New columns are added to the table; types widen where Iceberg allows (int→long, float→double)." },
  { value: "rescue", label: "Rescue", description: "Fields the table does not know go into a _rescued_data JSON column." },
  { value: "ignore", label: "Ignore", description: "Fields the table does not know are dropped; the known columns load." },
  { value: "fail", label: "Fail and ask", description: "A schema change stops the run and waits for you to review it." },
];
export const ON_ERROR = [
  { value: "skip_file", label: "Skip the file", description: "A bad file is left out and recorded with the reason; the other files load." },
  { value: "skip_row", label: "Skip the row", description: "A malformed row is dropped and counted; the rest of its file loads." },
  { value: "fail_run", label: "Fail the run", description: "Any bad file or row fails the whole run, naming the file and line." },
];

export const title = "Format & schema";

/** Draw the format step; the schema preview starts at once. */
export function render(panel, ctx) {
  const { format } = ctx.draft;
  const options = h("div.format-options");
  const schema = h("div.schema-preview", { "aria-live": "polite" });
  const caps = ctx.capabilities || {};
  const formats = offered(caps.formats && Object.keys(caps.formats), FORMATS, ([name]) => name, (name) => [name, name]);
  const choice = (value) => ({ value, label: humanise(value), description: "" });
  const type = select(formats, {
    value: format.type,
    disabled: ctx.frozen,
    onchange: (event) => {
      format.type = event.target.value;
      format.options = {};
      replace(options, formatOptions(ctx));
    },
  });
  replace(options, formatOptions(ctx));
  const refresh = h("button.btn", { type: "button", disabled: ctx.frozen, onclick: () => inferSchema(panel, ctx, schema) }, "Infer schema again");
  replace(
    panel,
    ctx.frozen ? h("p.notice", null, ctx.frozenReason) : null,
    field({ label: "Format", name: "format.type", control: type, required: true }),
    options,
    section("Schema", h("p.hint", null, "Inferred from a sample of the files (at most 5 files); columns as they would be written."), schema, h("div.actions", null, refresh)),
    h("div.grid-2.policies", null, choiceGroup({
      legend: "When the files' columns change (evolution mode)",
      name: "format.schema.evolution_mode",
      options: offered(caps.evolution_modes, EVOLUTION, (entry) => entry.value, choice),
      value: format.schema.evolution_mode,
      disabled: ctx.frozen,
      onChange: (value) => (format.schema.evolution_mode = value),
    }),
    choiceGroup({
      legend: "When a file or row is bad (bad-data policy)",
      name: "errors.on_error",
      options: offered(caps.on_error, ON_ERROR, (entry) => entry.value, choice),
      value: ctx.draft.errors.on_error,
      onChange: (value) => (ctx.draft.errors.on_error = value),
    })),
  );
  inferSchema(panel, ctx, schema);
}

function formatOptions(ctx) {
  const { format } = ctx.draft;
  if (!TEXT.includes(format.type)) return h("p.hint", null, "This format describes itself; it needs no reader options.");
  const set = (name, fallback = "") => (event) => {
    const value = event.target.value;
    if (value === fallback) delete format.options[name];
    else format.options[name] = value;
  };
  const csv = format.type === "csv" || format.type === "tsv";
  // Only the reader options the API accepts for this format (GET /capabilities) are offered.
  const accepted = ctx.capabilities?.formats?.[format.type];
  const takes = (name) => !accepted || accepted.includes(name);
  const texts = (csv ? CSV_TEXT_OPTIONS : CSV_TEXT_OPTIONS.filter((option) => option.name === "encoding")).filter((option) => takes(option.name)).map((option) =>
    field({
      label: option.label,
      name: `format.options.${option.name}`,
      control: input({ value: format.options[option.name] ?? "", placeholder: option.placeholder, maxlength: option.maxlength, disabled: ctx.frozen, oninput: set(option.name) }),
    }),
  );
  const compression = select(["auto", "none", "gzip", "bz2", "zstd", "lz4"].map((c) => [c, c === "auto" ? "Detect from the extension" : c]), {
    value: format.options.compression ?? "auto",
    disabled: ctx.frozen,
    onchange: set("compression", "auto"),
  });
  return section(
    "Reader options",
    h("div.grid-3", null, texts, field({ label: "Compression", name: "format.options.compression", control: compression })),
    csv && takes("header") ? flag(ctx, "header", "The first line holds the column names", true) : null,
    takes("multiline") && flag(ctx, "multiline", csv ? "Quoted values may span lines" : "One JSON document or array per file (not JSON lines)", false),
  );
}

// A reader flag is sent only when it differs from the reader's default.
function flag(ctx, name, label, fallback) {
  const { options } = ctx.draft.format;
  const box = checkbox({ label, name: `format.options.${name}`, checked: options[name] ?? fallback });
  const control = box.querySelector("input");
  control.disabled = ctx.frozen;
  control.addEventListener("change", () => {
    if (control.checked === fallback) delete options[name];
    else options[name] = control.checked;
  });
  return box;
}

async function inferSchema(panel, ctx, slot) {
  const outcome = await preview(ctx, { complete: false, slot, label: "Reading a sample to infer the schema…" });
  if (outcome.ok) {
    ctx.schema = outcome.value.schema;
    replace(slot, schemaView(outcome.value));
  } else if (outcome.aborted) {
    replace(slot, h("p.muted", null, "Schema inference cancelled. Use “Infer schema again” to retry."));
  } else {
    replace(slot);
    showProblem(panel, outcome.error);
  }
  return outcome;
}

function schemaView(result) {
  if (!result.connection.reachable || !result.connection.authorised) {
    return h("p.notice.notice-warn", { role: "alert" }, `The source could not be read: ${result.connection.message}`);
  }
  const malformed = result.malformed.count
    ? h("p.notice.notice-warn", null, `! ${result.malformed.count} malformed record(s) in the sample; step 5 lists them.`)
    : null;
  const columns = result.schema.filter((column) => !LINEAGE.includes(column.name));
  return [
    dataTable({
      caption: "Inferred schema",
      rows: columns,
      empty: "No files to sample yet, so no schema could be inferred.",
      columns: [
        { label: "Column", value: (c) => h("span.mono", null, c.name) },
        { label: "Type", value: (c) => h("span.mono", null, c.type) },
        { label: "Nullable", value: (c) => (c.nullable ? "yes" : "no") },
        { label: "Null %", value: (c) => percent(c.null_percent), num: true },
      ],
    }),
    malformed,
  ];
}

/** Next: the preview must accept the format (a 422 lands next to its field). */
export async function validate(panel, ctx) {
  const slot = panel.querySelector(".schema-preview");
  const outcome = await inferSchema(panel, ctx, slot);
  return outcome.ok;
}
