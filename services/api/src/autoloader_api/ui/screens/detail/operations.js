// Operations tab: refresh, backfill, reset and clearing the ledger. Each one is first asked as a dry run, whose
// impact (files, bytes, rows, cost, duration) and planned operations the user reads in a confirm dialog; only a
// confirmation sends it for real. A run in progress (409) is said in plain words, not as an error.

import { ApiError, api } from "../../api.js";
import { confirmDialog, h, replace, toast } from "../../dom.js";
import { busyButton, clearProblems, field, input, showProblem } from "../../forms.js";
import { bytes, duration, money, number } from "../../format.js";
import { ingestionPath, runRoute, summaryList } from "./common.js";

const OPERATIONS = [
  {
    key: "refresh-full",
    title: "Full refresh",
    path: ["refresh", "full"],
    autoRun: true,
    danger: true,
    text: "Drops the table and forgets which files were loaded, then loads every file again from scratch.",
  },
  {
    key: "refresh-new-only",
    title: "Refresh with new files only",
    path: ["refresh", "new-only"],
    autoRun: true,
    danger: true,
    text: "Drops the table and starts it again; files already loaded are never loaded again, only new ones.",
  },
  {
    key: "backfill",
    title: "Backfill",
    path: ["backfill"],
    range: true,
    text: "Loads the files modified in a time range that were not loaded yet (for example skipped at activation or "
      + "by a reset). What is already loaded stays as it is.",
  },
  {
    key: "reset",
    title: "Reset",
    path: ["reset"],
    danger: true,
    text: "Records every file present now as seen, so none of them loads; only files that arrive later are loaded.",
  },
  {
    key: "clear-processed-files",
    title: "Clear processed files",
    path: ["processed-files"],
    method: "DELETE",
    danger: true,
    text: "Forgets which files were loaded: the next run loads every file again (the table keeps its rows).",
  },
];

function impactList(impact) {
  const files = impact.files_are_lower_bound ? `at least ${number(impact.files_to_process)}` : number(impact.files_to_process);
  return summaryList([
    ["Files to process", `${files} file${impact.files_to_process === 1 ? "" : "s"}`],
    ["Files skipped", number(impact.files_skipped)],
    ["Data", bytes(impact.bytes_to_process)],
    ["Estimated rows", impact.estimated_rows === null ? "unknown" : `${number(impact.estimated_rows)} rows`],
    ["Estimated cost", money(impact.estimated_cost)],
    ["Estimated duration", duration(impact.estimated_duration_seconds)],
  ]);
}

function operationList(operations) {
  return h("ul.operation-list", null, operations.map((step) =>
    h("li", null, h("strong", null, step.operation.replaceAll("_", " ")), ` (${step.status}): ${step.details}`)));
}

function impactBody(answer) {
  return [
    h("p", null, "Nothing has changed yet. This is what it would do:"),
    impactList(answer.impact),
    answer.impact.message ? h("p.muted", null, answer.impact.message) : null,
    h("h3", null, "Operations"),
    operationList(answer.would_perform),
  ];
}

function resultView(ingestionId, answer) {
  return [
    h("p", null, h("strong", null, "Done. "), answer.run_id ? "A run was started: " : "No run was started.",
      answer.run_id ? h("a", { href: `#${runRoute(ingestionId, answer.run_id)}` }, answer.run_id) : null),
    operationList(answer.operations),
  ];
}

function rangeFields() {
  const from = input({ type: "datetime-local", name: "from" });
  const to = input({ type: "datetime-local", name: "to" });
  const element = h(
    "div.grid-2",
    null,
    field({ label: "Modified from", name: "from", control: from, hint: "Your local time; empty: from the start." }),
    field({ label: "Modified before", name: "to", control: to, hint: "Your local time; empty: until now." }),
  );
  const iso = (control) => (control.value ? new Date(control.value).toISOString() : null);
  return { element, values: () => ({ from: iso(from), to: iso(to) }) };
}

function call(ctx, operation, body) {
  return api(ingestionPath(ctx.id, ...operation.path), { method: operation.method || "POST", body });
}

function showFailure(form, result, error) {
  if (error instanceof ApiError && error.status === 409) {
    replace(result, h("p.notice.notice-warn", null, `Not now: ${error.message}. Try again when the run has finished.`));
  } else {
    showProblem(form, error);
  }
}

async function perform(ctx, operation, form, result, extra) {
  clearProblems(form);
  replace(result);
  const base = { ...extra(), confirm: true };
  try {
    const preview = await call(ctx, operation, { ...base, dry_run: true });
    const confirmed = await confirmDialog({
      title: `${operation.title}?`,
      body: impactBody(preview),
      confirmLabel: operation.title,
      danger: operation.danger,
    });
    if (!confirmed) return;
    const answer = await call(ctx, operation, { ...base, dry_run: false, ...(operation.autoRun ? { auto_run: true } : {}) });
    replace(result, ...resultView(ctx.id, answer));
    toast(`${operation.title}: done.`, "ok");
    if (answer.run_id) ctx.watchRun(answer.run_id);
  } catch (error) {
    showFailure(form, result, error);
  }
}

function operationCard(ctx, operation) {
  const range = operation.range ? rangeFields() : null;
  const result = h("div.operation-result", { role: "status" });
  const titleId = `op-${operation.key}`;
  const form = h(
    "article.operation",
    { "aria-labelledby": titleId },
    h("h3", { id: titleId }, operation.title),
    h("p", null, operation.text),
    range?.element,
    h("div.actions", null, busyButton(`${operation.title}…`,
      () => perform(ctx, operation, form, result, range ? range.values : () => ({})),
      { class: operation.danger ? "btn-danger" : "btn-primary" })),
    result,
  );
  return form;
}

/** Draw one card per operation. */
export async function render(panel, ctx) {
  replace(
    panel,
    h("h2", null, "Operations"),
    h("p.muted", null, "Each operation first shows what it would do; nothing changes until you confirm."),
    h("div.operations", null, OPERATIONS.map((operation) => operationCard(ctx, operation))),
  );
}
