// Schema tab: every detected schema change with its diff side by side (old type | new type) and, for a change
// that waits for a decision, the two ways to resolve it, each explained before it is applied.

import { api } from "../../api.js";
import { confirmDialog, h, replace, toast } from "../../dom.js";
import { busyButton } from "../../forms.js";
import { badge, dateTime } from "../../format.js";
import { dataTable, ingestionPath, listPage, pager, summaryList } from "./common.js";

const CHANGES = [
  ["added", "+", "added"],
  ["removed", "−", "removed"],
  ["changed", "~", "type changed"],
];

function diffRows(diff) {
  return CHANGES.flatMap(([key, symbol, word]) =>
    (diff[key] || []).map((column) =>
      h(
        `tr.diff-${key}`,
        null,
        h("td.mono", null, column.name),
        h("td", null, h("span.change", { "aria-hidden": "true" }, symbol), ` ${word}`),
        h("td.mono.old-type", null, column.old_type || "—"),
        h("td.mono.new-type", null, column.new_type || "—"),
      ),
    ),
  );
}

function names(diff, key) {
  return (diff[key] || []).map((column) => column.name).join(", ");
}

// What each resolution does, in the words the user decides on.
function consequence(action, version) {
  const { diff, files } = version;
  const waiting = `${files.length} waiting file${files.length === 1 ? "" : "s"}`;
  if (action === "auto_merge") {
    return [
      h("p", null, diff.added?.length
        ? `The table gains the column(s) ${names(diff, "added")}. Rows already in the table get empty (null) values there.`
        : "The table's schema is changed to match the new files."),
      h("p", null, `The ingestion becomes active again and its next run loads the ${waiting}.`),
    ];
  }
  return [
    h("p", null, "The table keeps its columns as they are."),
    h("p", null, `The ingestion becomes active again and its next run loads the ${waiting} without the new columns:`,
      " their values are dropped."),
  ];
}

async function resolve(ctx, version, action, label) {
  const confirmed = await confirmDialog({
    title: `${label}?`,
    body: consequence(action, version),
    confirmLabel: label,
  });
  if (!confirmed) return;
  try {
    await api(ingestionPath(ctx.id, "schema-versions", String(version.version), "resolve"), {
      method: "POST",
      body: { action },
    });
    toast(`Schema version ${version.version} resolved. Run the ingestion to load the waiting files.`, "ok");
    ctx.reload();
  } catch (error) {
    toast(`Could not resolve the change: ${error.message}`, "error");
  }
}

function resolveActions(ctx, version) {
  if (version.status !== "pending") return null;
  return h(
    "div.actions.resolve-actions",
    null,
    h("p.notice.notice-warn", null, "Runs are stopped until you decide what to do with this change."),
    busyButton("Add the new columns", () => resolve(ctx, version, "auto_merge", "Add the new columns"),
      { class: "btn-primary" }),
    busyButton("Ignore the change", () => resolve(ctx, version, "ignore", "Ignore the change")),
  );
}

function versionCard(ctx, version) {
  const rows = diffRows(version.diff || {});
  const titleId = `schema-v${version.version}`;
  return h(
    "article.schema-version",
    { "aria-labelledby": titleId },
    h("h3", { id: titleId }, `Version ${version.version} `, badge(version.status)),
    summaryList([
      ["Detected", dateTime(version.detected_at)],
      ["Evolution mode", version.mode],
      ["Resolution", version.resolution],
      ["Resolved by", version.resolved_by ? `${version.resolved_by} on ${dateTime(version.resolved_at)}` : null],
      ["Files", version.files.length ? h("span.mono", null, version.files.join(", ")) : "–"],
    ]),
    rows.length
      ? dataTable(["Column", "Change", "Old type", "New type"], rows, { caption: `Changes of version ${version.version}` })
      : h("p.muted", null, "No column changes recorded."),
    resolveActions(ctx, version),
  );
}

/** Draw the schema versions, newest first. */
export async function render(panel, ctx) {
  const list = h("div.schema-versions");
  const empty = h("p.empty", { hidden: true }, "No schema change detected: the files still match the table.");
  const show = (items, first) => {
    if (first) replace(list);
    list.append(...items.map((version) => versionCard(ctx, version)));
    empty.hidden = list.children.length > 0;
  };
  const pages = pager((cursor) => listPage(ingestionPath(ctx.id, "schema-versions"), {}, cursor, ctx.signal), show);
  replace(panel, h("h2", null, "Schema versions"), list, empty, pages.element);
  await pages.reload();
}
