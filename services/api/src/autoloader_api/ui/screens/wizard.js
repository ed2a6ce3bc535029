// The ingestion wizard: five steps (source, format & schema, destination, schedule, preview & cost) for a new
// ingestion (#/new) or a saved one (#/ingestions/{id}/edit). Each step module draws into the step panel and
// validates on Next (required fields here, then the API); the frame keeps the progress list, Back/Next,
// "Save as draft" and the create buttons. Steps live in ./wizard/.

import { ApiError, api } from "../api.js";
import { navigate } from "../app.js";
import { h, replace, toast } from "../dom.js";
import { showProblem } from "../forms.js";
import { badge } from "../format.js";
import * as destination from "./wizard/destination.js";
import * as format from "./wizard/format.js";
import * as review from "./wizard/review.js";
import * as schedule from "./wizard/schedule.js";
import * as source from "./wizard/source.js";
import { createBody, draftOf, emptyDraft, updateBody } from "./wizard/state.js";

const STEPS = [source, format, destination, schedule, review];
const LAST = STEPS.length - 1;
// Which step owns an API error's field, so a refused create opens the step where it can be fixed.
const OWNERS = [
  [/^(name|source)\b/, 0],
  [/^(format|errors)\b/, 1],
  [/^destination\b/, 2],
  [/^(schedule|cluster_id|engine)\b/, 3],
];

/**
 * Draw the wizard into `main`.
 * @param {HTMLElement} main
 * @param {{id?: string}} params - `id` of the ingestion to edit (absent: a new one)
 * @returns {Promise<() => void>} cleanup: aborts the requests still running
 */
export async function render(main, params) {
  const ctx = await context(params.id);
  const frame = buildFrame(ctx);
  replace(main, frame.root);
  ctx.frame = frame;
  await show(ctx, 0);
  return () => {
    for (const controller of ctx.tasks) controller.abort();
    ctx.explainController?.abort();
  };
}

async function context(id) {
  // The steps offer what the API accepts (source fields, formats, policies), not a copy kept here.
  const [capabilities, ingestion] = await Promise.all([
    api("/capabilities"),
    id ? api(`/ingestions/${encodeURIComponent(id)}`) : null,
  ]);
  const ctx = { id: id || null, status: null, step: 0, reached: 0, tasks: new Set(), previews: new Map(), capabilities };
  if (!ingestion) return { ...ctx, draft: emptyDraft(), frozen: false };
  return { ...ctx, ...savedState(ingestion), reached: LAST, editing: true };
}

function savedState(ingestion) {
  const frozen = ingestion.status !== "draft";
  return {
    name: ingestion.name,
    status: ingestion.status,
    draft: draftOf(ingestion),
    frozen,
    frozenReason: frozen
      ? `The source, format and destination cannot change once the ingestion is ${ingestion.status} (only while it is a draft). ` +
        "Credentials can still be replaced. To read other files or write another table, create a new ingestion."
      : null,
  };
}

function buildFrame(ctx) {
  const heading = h("h1", { id: "wizard-title" });
  const status = h("span.wizard-badge");
  const steps = h("ol.wizard-steps");
  const stepTitle = h("h2.step-title", { tabindex: "-1" });
  const body = h("div.step-body");
  const actions = h("div.wizard-actions.actions");
  const form = h("form.panel.wizard-step", { novalidate: true, "aria-labelledby": "wizard-title" }, stepTitle, body);
  // Enter in a field means Next (never a page reload).
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (ctx.step < LAST) go(ctx, ctx.step + 1);
  });
  const root = h(
    "section.wizard",
    null,
    h("div.page-head", null, heading, status),
    h("nav.wizard-progress", { "aria-label": "Wizard steps" }, steps),
    form,
    actions,
  );
  return { root, heading, status, steps, stepTitle, body, actions };
}

async function show(ctx, index) {
  const { frame } = ctx;
  ctx.step = index;
  ctx.reached = Math.max(ctx.reached, index);
  replace(frame.heading, ctx.id ? `Edit ingestion “${ctx.name || ctx.draft.name}”` : "New ingestion");
  replace(frame.status, ctx.status ? badge(ctx.status) : null);
  replace(frame.steps, STEPS.map((step, i) => stepItem(ctx, step, i)));
  replace(frame.stepTitle, `Step ${index + 1} of ${STEPS.length}: ${STEPS[index].title}`);
  replace(frame.actions, actionButtons(ctx));
  await STEPS[index].render(frame.body, ctx);
}

function stepItem(ctx, step, index) {
  // A saved ingestion opened for editing has every step filled in already.
  const done = index !== ctx.step && (index < ctx.reached || ctx.editing);
  const state = index === ctx.step ? "current" : done ? "completed" : index <= ctx.reached ? "visited" : "not reached yet";
  const button = h(
    "button.step-link",
    {
      type: "button",
      "aria-current": index === ctx.step ? "step" : null,
      disabled: index > ctx.reached,
      onclick: () => index !== ctx.step && go(ctx, index),
    },
    h("span.step-number", { "aria-hidden": "true" }, done ? "✓" : String(index + 1)),
    h("span.step-name", null, step.title),
    h("span.visually-hidden", null, ` (${state})`),
  );
  return h(`li.${index === ctx.step ? "is-current" : done ? "is-done" : "is-todo"}`, null, button);
}

function actionButtons(ctx) {
  const back = h("button.btn", { type: "button", disabled: ctx.step === 0, onclick: () => go(ctx, ctx.step - 1) }, "← Back");
  const save = h("button.btn", { type: "button", onclick: () => saveDraft(ctx, save) }, saveLabel(ctx));
  if (ctx.step < LAST) {
    const next = h("button.btn.btn-primary", { type: "button", onclick: () => go(ctx, ctx.step + 1) }, "Next →");
    return [back, h("span.spacer"), save, next];
  }
  return [back, h("span.spacer"), ...finishButtons(ctx)];
}

function saveLabel(ctx) {
  if (!ctx.id) return "Save as draft";
  return ctx.status === "draft" ? "Save draft" : "Save changes";
}

function finishButtons(ctx) {
  const button = (label, primary, action) => {
    const element = h(`button.btn${primary ? ".btn-primary" : ""}`, { type: "button", onclick: () => busy(element, () => action()) }, label);
    return element;
  };
  if (!ctx.id) {
    return [button("Create", false, () => create(ctx, false)), button("Create & activate", true, () => create(ctx, true))];
  }
  if (ctx.status === "draft") {
    return [button("Save draft", false, () => saveChanges(ctx, false)), button("Save & activate", true, () => saveChanges(ctx, true))];
  }
  return [button("Save changes", true, () => saveChanges(ctx, false))];
}

/** Move to step `target`; going forward first validates the current step (client side, then the API). */
async function go(ctx, target) {
  if (target < 0 || target > LAST || ctx.busy) return;
  if (target > ctx.step) {
    const next = ctx.frame.actions.querySelector(".btn-primary");
    ctx.busy = true;
    try {
      if (!(await busy(next, () => STEPS[ctx.step].validate(ctx.frame.body, ctx)))) return;
    } finally {
      ctx.busy = false;
    }
  }
  await show(ctx, target);
  ctx.frame.stepTitle.focus();
}

async function busy(button, work) {
  setBusy(button, true);
  try {
    return await work();
  } finally {
    setBusy(button, false);
  }
}

function setBusy(button, on) {
  if (!button) return;
  button.disabled = on;
  if (on) button.setAttribute("aria-busy", "true");
  else button.removeAttribute("aria-busy");
}

async function saveDraft(ctx, button) {
  if (ctx.id) {
    await busy(button, () => saveChanges(ctx, false, { stay: true }));
    return;
  }
  // A draft needs at least the name and the source's path (the rest gets stand-ins).
  if (!source.validateForDraft(ctx.frame.body, ctx)) {
    if (ctx.step !== 0) {
      await show(ctx, 0);
      source.validateForDraft(ctx.frame.body, ctx);
    }
    return;
  }
  const body = createBody(ctx.draft, { complete: ctx.reached >= 3 });
  const created = await busy(button, () => submit(ctx, () => api("/ingestions", { method: "POST", body })));
  if (!created) return;
  Object.assign(ctx, savedState(created), { id: created.id, reached: Math.max(ctx.reached, ctx.step) });
  ctx.draft.secrets = {};
  // Stay on this step: the URL becomes the edit route without re-rendering the screen.
  history.replaceState(null, "", `#/ingestions/${created.id}/edit`);
  toast(`Saved “${created.name}” as a draft.`, "ok");
  await show(ctx, ctx.step);
}

async function create(ctx, activate) {
  const created = await submit(ctx, () => api("/ingestions", { method: "POST", body: { ...createBody(ctx.draft), activate } }));
  if (!created) return;
  toast(activate ? `Created and activated “${created.name}”.` : `Created “${created.name}” as a draft.`, "ok");
  navigate(`/ingestions/${created.id}`);
}

async function saveChanges(ctx, activate, { stay = false } = {}) {
  const body = updateBody(ctx.draft, ctx.status);
  const saved = await submit(ctx, () => api(`/ingestions/${ctx.id}`, { method: "PUT", body }));
  if (!saved) return;
  if (activate && !(await submit(ctx, () => api(`/ingestions/${ctx.id}/activate`, { method: "POST" })))) return;
  toast(activate ? "Saved and activated." : "Changes saved.", "ok");
  if (!stay) {
    navigate(`/ingestions/${ctx.id}`);
    return;
  }
  Object.assign(ctx, savedState(saved));
  ctx.previews.clear();
  await show(ctx, ctx.step);
}

// A refused request opens the step that owns the first field error and shows the errors there.
async function submit(ctx, request) {
  try {
    return await request();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const owner = ownerStep(error);
    if (owner !== null && owner !== ctx.step) await show(ctx, owner);
    showProblem(ctx.frame.body, error);
    return null;
  }
}

function ownerStep(error) {
  const path = error.errors?.[0]?.field || "";
  const found = OWNERS.find(([pattern]) => pattern.test(path));
  return found ? found[1] : null;
}
