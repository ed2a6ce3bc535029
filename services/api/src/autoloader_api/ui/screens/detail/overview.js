// Overview tab: the configuration in plain words, the active alerts and the last 7 days with daily charts.

import { api } from "../../api.js";
import { h, replace } from "../../dom.js";
import { SOURCE_LABELS, bytes, dateTime, duration, money, number, relative, tableName } from "../../format.js";
import { dailyChart } from "./chart.js";
import { ingestionPath, summaryList, timeAgo } from "./common.js";

async function loadCluster(clusterId, signal) {
  if (!clusterId) return null;
  try {
    return await api(`/clusters/${encodeURIComponent(clusterId)}`, { signal });
  } catch {
    return null; // the summary still shows the id
  }
}

function whenNext(iso) {
  return iso ? [dateTime(iso), h("span.muted", null, ` (${relative(iso)})`)] : "Not scheduled";
}

function writeMode(destination) {
  const mode = destination.write_mode || "append";
  return mode === "merge" ? `merge on ${destination.merge_keys.join(", ")}` : mode;
}

function configuration(ingestion, cluster) {
  const { source, format, destination, metadata = {} } = ingestion;
  const pattern = source.exclude_pattern ? `${source.file_pattern} (except ${source.exclude_pattern})` : source.file_pattern;
  const cost = metadata.estimated_monthly_cost;
  return h(
    "section",
    { "aria-labelledby": "config-title" },
    h("h2", { id: "config-title" }, "Configuration"),
    summaryList([
      ["Source", SOURCE_LABELS[source.type] || source.type],
      ["Path", h("span.mono", null, source.path)],
      ["File pattern", h("span.mono", null, pattern)],
      ["Format", `${format.type.toUpperCase()} · schema changes: ${format.schema?.evolution_mode || "default"}`],
      ["Destination", h("span.mono", null, tableName(destination))],
      ["Write mode", writeMode(destination)],
      ["Schedule", metadata.schedule_description || ingestion.schedule.frequency],
      ["Next run", whenNext(metadata.next_run_time)],
      ["Cluster", cluster ? `${cluster.name} (${cluster.kind})` : ingestion.cluster_id || "embedded"],
      ["Estimated monthly cost", cost === null || cost === undefined ? "Known after the first run" : money(cost)],
      ["Created", dateTime(ingestion.created_at)],
    ]),
  );
}

function alerts(ingestion) {
  const active = ingestion.metadata?.active_alerts || [];
  return h(
    "section",
    { "aria-labelledby": "alerts-title" },
    h("h2", { id: "alerts-title" }, "Active alerts"),
    active.length
      ? h("ul.alert-list", null, active.map((alert) =>
          h("li.notice.notice-warn", null, h("strong", null, `${alert.kind.replaceAll("_", " ")}: `), alert.message,
            " ", timeAgo(alert.raised_at))))
      : h("p.muted", null, "No active alerts."),
  );
}

function stat(label, value, sub) {
  return h("div.stat", null, h("div.label", null, label), h("div.value", null, value), sub ? h("div.sub", null, sub) : null);
}

function metricsStats(metrics) {
  const { runs } = metrics;
  return h(
    "div.stats",
    null,
    stat("Runs", number(runs.total), `${number(runs.success)} ok · ${number(runs.failed)} failed`),
    stat("Files loaded", number(metrics.files_loaded), `${number(metrics.files_failed)} failed`),
    stat("Rows", number(metrics.rows)),
    stat("Data", bytes(metrics.bytes)),
    stat("Average duration", duration(metrics.avg_duration_seconds), `p95 ${duration(metrics.p95_duration_seconds)}`),
    stat("Cost", money(metrics.cost.actual, metrics.cost.currency)),
  );
}

function charts(metrics) {
  const series = (key) => metrics.daily.map((day) => ({ date: day.date, value: day[key] }));
  return h(
    "div.charts",
    null,
    dailyChart({ title: "Files per day", points: series("files"), format: number, integer: true }),
    dailyChart({ title: "Rows per day", points: series("rows"), format: number, integer: true }),
    dailyChart({ title: "Average run duration", points: series("avg_duration_seconds"), format: duration, kind: "line" }),
  );
}

function metricsSection(metrics) {
  return [
    h("h2", { id: "metrics-title" }, "Last 7 days"),
    metricsStats(metrics),
    charts(metrics),
  ];
}

/**
 * Draw the overview; it redraws its figures when a new run has finished.
 * @returns {Promise<{refresh: (ingestion: object) => Promise<void>}>}
 */
export async function render(panel, ctx) {
  const metricsBox = h("section", { "aria-labelledby": "metrics-title" });
  const draw = async (ingestion) => {
    const [cluster, metrics] = await Promise.all([
      loadCluster(ingestion.cluster_id, ctx.signal),
      api(`${ingestionPath(ctx.id, "metrics")}?days=7`, { signal: ctx.signal }),
    ]);
    replace(metricsBox, ...metricsSection(metrics));
    replace(panel, h("div.grid-2.overview", null, configuration(ingestion, cluster), alerts(ingestion)), metricsBox);
  };
  let lastRun = ctx.ingestion.metadata?.last_run_id;
  await draw(ctx.ingestion);
  return {
    async refresh(ingestion) {
      if (ingestion.metadata?.last_run_id === lastRun) return;
      lastRun = ingestion.metadata?.last_run_id;
      await draw(ingestion);
    },
  };
}
