// One run: its status, times, figures, cost, errors and what happened to each of its files. While the run is
// queued or running the screen polls it every 2 s, so the counts move as files load.

import { api } from "../api.js";
import { navigate } from "../app.js";
import { h, replace, toast } from "../dom.js";
import { busyButton } from "../forms.js";
import { badge, bytes, dateTime, money, number } from "../format.js";
import { every } from "../live.js";
import {
  dataTable, ingestionPath, isActive, numCell, runDuration, runRoute, summaryList, tabRoute,
} from "./detail/common.js";

const POLL_MS = 2000;

function stat(label, value) {
  return h("div.stat", null, h("div.label", null, label), h("div.value", null, value));
}

// Counted from the run's files while it runs (its metrics come when it ends).
function fileCounts(run) {
  const files = run.files || [];
  const count = (state) => files.filter((file) => file.state === state).length;
  return { total: files.length, loaded: count("loaded"), failed: count("failed"), loading: count("loading") };
}

function figures(run) {
  const metrics = run.metrics || {};
  const counts = fileCounts(run);
  const files = metrics.files_processed ?? counts.loaded;
  return h(
    "div.stats.run-stats",
    null,
    stat("Files loaded", `${number(files)} of ${number(metrics.files_discovered ?? counts.total)}`),
    stat("Files failed", number(metrics.files_failed ?? counts.failed)),
    stat("Rows", number(metrics.records_ingested ?? (run.files || []).reduce((sum, file) => sum + (file.rows || 0), 0))),
    stat("Rows rejected", number(metrics.records_rejected)),
    stat("Data read", bytes(metrics.bytes_read)),
    stat("Duration", runDuration(run)),
  );
}

function details(run) {
  const cost = run.cost || {};
  return summaryList([
    ["Trigger", run.trigger],
    ["Scheduled for", run.scheduled_for ? dateTime(run.scheduled_for) : null],
    ["Requested", dateTime(run.requested_at)],
    ["Started", dateTime(run.started_at)],
    ["Ended", dateTime(run.ended_at)],
    ["Estimated cost", money(cost.estimated, cost.currency)],
    ["Actual cost", money(cost.actual, cost.currency)],
    ["Skipped because", run.skip_reason],
    ["Schema version", run.schema_version],
    ["Snapshots", run.snapshot_ids?.length ? h("span.mono", null, run.snapshot_ids.join(", ")) : null],
  ]);
}

function errorList(run) {
  if (!run.errors?.length) return null;
  return [
    h("h2", null, "Errors"),
    h("ul.error-list", null, run.errors.map((error) =>
      h("li.form-alert", null, h("strong", null, `${(error.error_type || "error").replaceAll("_", " ")}: `),
        error.file ? h("span.mono", null, `${error.file}${error.line ? `:${error.line}` : ""} – `) : null,
        error.message))),
  ];
}

function filesTable(run) {
  const files = run.files || [];
  if (!files.length) return h("p.empty", null, isActive(run.status) ? "Looking for files…" : "This run had no files.");
  return dataTable(
    ["Path", "State", ["Size", true], ["Rows", true], "Error"],
    files.map((file) =>
      h("tr", null, h("td.mono.path-cell", null, file.path), h("td", null, badge(file.state)),
        numCell(bytes(file.size)), numCell(number(file.rows)), h("td.error-cell", null, file.error || ""))),
    { caption: "Files of this run" },
  );
}

function retryButton(ingestionId, run) {
  if (run.status !== "failed") return null;
  return busyButton("Retry", async () => {
    try {
      const accepted = await api(ingestionPath(ingestionId, "runs", run.id, "retry"), { method: "POST" });
      toast("Retry started.", "ok");
      navigate(runRoute(ingestionId, accepted.run_id));
    } catch (error) {
      toast(`Retry failed: ${error.message}`, "error");
    }
  }, { class: "btn-primary" });
}

function view(ingestionId, run) {
  return [
    h("p.back", null, h("a", { href: `#${tabRoute(ingestionId, "runs")}` }, "← Back to the runs")),
    h("div.page-head", null, h("h1", null, "Run ", h("span.mono", null, run.id)), badge(run.status),
      h("div.actions", null, retryButton(ingestionId, run))),
    h("section.panel", { "aria-label": "Figures" }, figures(run), details(run)),
    errorList(run),
    h("section.panel", { "aria-labelledby": "run-files" }, h("h2", { id: "run-files" }, "Files"), filesTable(run)),
  ];
}

/**
 * Draw the run `params.runId` of ingestion `params.id`; poll it while it has not ended.
 * @returns {Promise<() => void>} cleanup
 */
export async function render(main, params) {
  const controller = new AbortController();
  const path = ingestionPath(params.id, "runs", params.runId);
  const first = await api(path, { signal: controller.signal });
  replace(main, ...view(params.id, first));
  if (!isActive(first.status)) return () => controller.abort();
  const stop = every(POLL_MS, async () => {
    const run = await api(path, { signal: controller.signal });
    replace(main, ...view(params.id, run));
    if (!isActive(run.status)) stop();
  });
  return () => {
    stop();
    controller.abort();
  };
}
