// The detail screen's head: name, health, status, the run in progress (live) and the actions.

import { api } from "../../api.js";
import { failure, navigate } from "../../app.js";
import { confirmDialog, h, replace, toast } from "../../dom.js";
import { busyButton } from "../../forms.js";
import { badge, tableName } from "../../format.js";
import { ingestionPath, runRoute, timeAgo } from "./common.js";

/**
 * The head of an ingestion's screen.
 * @param {object} ingestion - GET /ingestions/{id}
 * @param {{watchRun: (runId: string) => void, reload: () => void}} ctx
 * @returns {{element: HTMLElement, update: (ingestion: object) => void}}
 */
export function detailHeader(ingestion, ctx) {
  const title = h("div.detail-title");
  const live = h("p.live-run", { role: "status", "aria-live": "polite" });
  const actions = h("div.actions");
  const element = h("div.page-head.detail-head", null, title, actions, live);
  let shownStatus = null;
  const update = (current) => {
    replace(title, h("h1", null, current.name), badge(current.metadata?.health || current.status),
      h("span.muted", null, `Status: ${current.status}`));
    replace(live, liveRun(current));
    // Redrawn only when they change, so a live poll never takes the keyboard focus away from a button.
    if (current.status !== shownStatus) replace(actions, ...actionButtons(current, ctx));
    shownStatus = current.status;
  };
  update(ingestion);
  return { element, update };
}

function liveRun(ingestion) {
  const { current_run: current, last_run_id: lastId, last_run_status: lastStatus, last_run_time: lastTime } =
    ingestion.metadata || {};
  if (current) {
    return [
      badge(current.status),
      " ",
      h("a", { href: `#${runRoute(ingestion.id, current.run_id)}` }, `A ${current.trigger} run is ${current.status}`),
      " – started ",
      timeAgo(current.started_at || current.requested_at),
    ];
  }
  if (lastId) {
    return [
      "Last run: ",
      badge(lastStatus),
      " ",
      h("a", { href: `#${runRoute(ingestion.id, lastId)}` }, "open the run"),
      " · ",
      timeAgo(lastTime),
    ];
  }
  return h("span.muted", null, "No run yet.");
}

function actionButtons(ingestion, ctx) {
  return [
    busyButton("Run now", () => runNow(ingestion, ctx), { class: "btn-primary" }),
    stateButton(ingestion, ctx),
    h("a.btn", { href: `#/ingestions/${encodeURIComponent(ingestion.id)}/edit` }, "Edit"),
    busyButton("Delete", () => remove(ingestion), { class: "btn-danger" }),
  ].filter(Boolean);
}

async function runNow(ingestion, ctx) {
  try {
    const accepted = await api(ingestionPath(ingestion.id, "run"), { method: "POST" });
    toast(`Run started (${accepted.run_id}).`, "ok");
    ctx.watchRun(accepted.run_id);
  } catch (error) {
    toast(`The run could not start: ${error.message}`, "error");
  }
}

// Pause and resume for a live ingestion; a draft is activated first (that is its next state).
const TRANSITIONS = {
  active: ["pause", "Pause", "Paused: scheduled runs stop until you resume."],
  paused: ["resume", "Resume", "Resumed: scheduled runs start again."],
  draft: ["activate", "Activate", "Activated: the schedule now runs it."],
};

function stateButton(ingestion, ctx) {
  const transition = TRANSITIONS[ingestion.status];
  if (!transition) return null;
  const [action, label, done] = transition;
  return busyButton(label, async () => {
    try {
      await api(ingestionPath(ingestion.id, action), { method: "POST" });
      toast(done, "ok");
      ctx.reload();
    } catch (error) {
      toast(`${label} failed: ${error.message}`, "error");
    }
  });
}

async function remove(ingestion) {
  const alsoTable = h("input", { type: "checkbox", id: "delete-table" });
  const body = [
    h("p", null, `Delete the ingestion “${ingestion.name}”? Its schedule, run history and file ledger go away.`),
    h(
      "div.field.field-check",
      null,
      alsoTable,
      h("label", { for: "delete-table" }, `Also delete the table ${tableName(ingestion.destination)} and its data`),
    ),
  ];
  if (!(await confirmDialog({ title: "Delete this ingestion?", body, confirmLabel: "Delete", danger: true }))) return;
  try {
    await api(`${ingestionPath(ingestion.id)}?delete_table=${alsoTable.checked}`, { method: "DELETE" });
    toast(`Deleted ${ingestion.name}.`, "ok");
    navigate("/");
  } catch (error) {
    toast(`Delete failed: ${error.message}`, "error");
    if (error.status === 404) replace(document.getElementById("main"), failure(error));
  }
}
