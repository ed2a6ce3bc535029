// Step 4: when runs happen (a preset or cron, read in a timezone) and where they load (the cluster).
// The API explains the schedule as the user types (POST /schedules/explain, debounced); its 422 lands next
// to the field it names, exactly as create would refuse it.

import { allItems, api } from "../../api.js";
import { h, replace } from "../../dom.js";
import { field, input, select, showProblem } from "../../forms.js";
import { choiceGroup, clearMarks, markErrors, section } from "./parts.js";
import { browserZone } from "./state.js";

const PRESETS = [
  { value: "manual", label: "Manual", description: "Only when you press Run now (or call the API)." },
  { value: "hourly", label: "Hourly", description: "Every hour, at a minute you choose." },
  { value: "daily", label: "Daily", description: "Every day at a time you choose." },
  { value: "weekly", label: "Weekly", description: "One day a week at a time you choose." },
  { value: "cron", label: "Cron", description: "Any 5-field cron expression." },
];
const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const ZONES = [
  "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Warsaw", "Europe/Helsinki",
  "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo",
  "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Africa/Johannesburg",
];
const READ_FILES = [
  ["auto", "Automatic: the cluster reads what it can reach, the loader streams the rest"],
  ["connector", "The loader always streams the files"],
  ["cluster", "The cluster always reads the files (Spark Connect only)"],
];
const EXPLAIN_DELAY_MS = 350;

export const title = "Schedule";

/** Draw the schedule step. */
export async function render(panel, ctx) {
  const { schedule } = ctx.draft;
  const timing = h("div.schedule-timing");
  const explanation = h("div.schedule-explanation", { "aria-live": "polite" });
  const explain = debounced(() => explainLive(panel, ctx, explanation), EXPLAIN_DELAY_MS);
  ctx.explainNow = () => explainLive(panel, ctx, explanation);
  const drawTiming = () => replace(timing, timingFields(ctx, explain));
  const presets = choiceGroup({
    legend: "How often",
    name: "schedule.frequency",
    options: PRESETS,
    value: schedule.frequency,
    onChange: (value) => {
      setFrequency(schedule, value);
      drawTiming();
      explain();
    },
  });
  drawTiming();
  replace(panel, presets, timing, explanation, await clusterSection(ctx));
  ctx.explainNow();
}

// Each preset keeps only the fields it reads, so a leftover weekday never makes a daily schedule invalid.
function setFrequency(schedule, frequency) {
  const { timezone, time, cron_expression: cron, day_of_week: day } = schedule;
  for (const key of Object.keys(schedule)) delete schedule[key];
  Object.assign(schedule, { frequency, timezone });
  if (frequency === "hourly") schedule.time = time && time.includes(":") ? `:${time.split(":")[1]}` : ":00";
  if (frequency === "daily" || frequency === "weekly") schedule.time = time && !time.startsWith(":") ? time : "02:00";
  if (frequency === "weekly") schedule.day_of_week = day || "monday";
  if (frequency === "cron") schedule.cron_expression = cron || "0 2 * * *";
}

function timingFields(ctx, explain) {
  const { schedule } = ctx.draft;
  const bind = (key) => (event) => {
    schedule[key] = event.target.value;
    explain();
  };
  const fields = [];
  if (schedule.frequency === "hourly") {
    const minute = input({ type: "number", min: "0", max: "59", value: Number((schedule.time || ":00").split(":")[1]), oninput: (e) => {
      schedule.time = `:${String(e.target.value || 0).padStart(2, "0")}`;
      explain();
    } });
    fields.push(field({ label: "Minute past the hour", name: "schedule.time", control: minute }));
  }
  if (schedule.frequency === "weekly") {
    const day = select(DAYS.map((d) => [d, d[0].toUpperCase() + d.slice(1)]), { value: schedule.day_of_week, onchange: bind("day_of_week") });
    fields.push(field({ label: "Day", name: "schedule.day_of_week", control: day }));
  }
  if (schedule.frequency === "daily" || schedule.frequency === "weekly") {
    fields.push(field({ label: "Time", name: "schedule.time", control: input({ type: "time", value: schedule.time, oninput: bind("time") }), hint: "In the chosen timezone." }));
  }
  if (schedule.frequency === "cron") {
    const cron = input({ value: schedule.cron_expression, placeholder: "0 2 * * 1-5", class: "mono", oninput: bind("cron_expression") });
    fields.push(field({ label: "Cron expression", name: "schedule.cron_expression", control: cron, required: true, hint: "minute hour day-of-month month day-of-week, e.g. 30 6 * * 1-5" }));
  }
  const zones = [...new Set([browserZone(), schedule.timezone, ...ZONES])].map((zone) => [zone, zone === browserZone() ? `${zone} (this browser)` : zone]);
  fields.push(field({ label: "Timezone", name: "schedule.timezone", control: select(zones, { value: schedule.timezone, onchange: bind("timezone") }) }));
  return h("div.grid-3", null, fields);
}

async function explainLive(panel, ctx, slot) {
  ctx.explainController?.abort();
  const controller = new AbortController();
  ctx.explainController = controller;
  ctx.tasks.add(controller);
  try {
    const answer = await api("/schedules/explain", { method: "POST", body: { schedule: ctx.draft.schedule, count: 5 }, signal: controller.signal });
    clearMarks(panel);
    replace(slot, explanation(answer));
    return { ok: true, value: answer };
  } catch (error) {
    if (error.name === "AbortError") return { ok: false, aborted: true };
    if (!markErrors(panel, error)) replace(slot, h("p.form-alert", { role: "alert" }, error.message));
    else replace(slot);
    return { ok: false, error };
  } finally {
    ctx.tasks.delete(controller);
  }
}

function explanation(answer) {
  const zone = answer.timezone;
  const when = new Intl.DateTimeFormat("en-GB", { dateStyle: "full", timeStyle: "short", timeZone: zone });
  return section(
    "When it runs",
    h("p.schedule-words", null, answer.description),
    answer.next_runs.length
      ? [h("p.hint", null, `Next ${answer.next_runs.length} runs (${zone}):`), h("ol.next-runs", null, answer.next_runs.map((iso) => h("li", null, h("time", { datetime: iso }, when.format(new Date(iso))))))]
      : h("p.hint", null, "No scheduled runs."),
  );
}

async function clusterSection(ctx) {
  let clusters = ctx.clusters;
  if (!clusters) {
    try {
      clusters = ctx.clusters = await allItems("/clusters");
    } catch (error) {
      return section("Engine", h("p.form-alert", null, `The clusters could not be listed: ${error.message}`));
    }
  }
  const embedded = clusters.find((cluster) => cluster.kind === "embedded");
  const choices = clusters.map((cluster) => [cluster.id, `${cluster.name} (${cluster.kind === "embedded" ? "embedded engine" : cluster.kind})`]);
  const current = ctx.draft.cluster_id || embedded?.id || "";
  const cluster = select(choices, { value: current, onchange: (event) => (ctx.draft.cluster_id = event.target.value === embedded?.id ? null : event.target.value) });
  const readFiles = select(READ_FILES, { value: ctx.draft.engine.read_files, onchange: (event) => (ctx.draft.engine.read_files = event.target.value) });
  return section(
    "Engine",
    h(
      "div.grid-2",
      null,
      field({ label: "Cluster", name: "cluster_id", control: cluster, hint: "Where batches are loaded; the embedded engine needs no setup." }),
      field({ label: "Who reads the files", name: "engine.read_files", control: readFiles }),
    ),
  );
}

function debounced(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Next: the API must accept the schedule (its error stays next to the field and the step does not change). */
export async function validate(panel, ctx) {
  const outcome = await ctx.explainNow();
  if (outcome.ok) return true;
  if (outcome.error) showProblem(panel, outcome.error);
  return false;
}
