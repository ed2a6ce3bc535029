// The preview (POST /ingestions/test) as the format, destination and last steps use it: one cached answer per
// body, so going back and forth does not list the source again when nothing changed.

import { api } from "../../api.js";
import { cancellable } from "./parts.js";
import { createBody, usesStoredSecrets } from "./state.js";

const SAMPLE_ROWS = 20;

/** Whether previews must use the saved ingestion (its stored credentials; frozen sections once active). */
export function previewsSaved(ctx) {
  return Boolean(ctx.id && (ctx.frozen || usesStoredSecrets(ctx.draft)));
}

function request(ctx, complete) {
  if (previewsSaved(ctx)) {
    return { path: `/ingestions/${ctx.id}/preview?sample_rows=${SAMPLE_ROWS}`, body: undefined };
  }
  return { path: `/ingestions/test?sample_rows=${SAMPLE_ROWS}`, body: createBody(ctx.draft, { complete }) };
}

/**
 * The preview of the draft, with progress and Cancel shown in `slot`.
 * @param {object} ctx - the wizard context (draft, id, tasks, previews cache)
 * @param {{complete?: boolean, slot: HTMLElement, label?: string}} options - `complete: false` fills the
 *   sections the user has not reached with stand-ins
 * @returns {Promise<{ok: boolean, value?: object, aborted?: boolean, error?: any}>}
 */
export async function preview(ctx, { complete = true, slot, label = "Reading a sample of the files…" }) {
  const { path, body } = request(ctx, complete);
  const key = `${path} ${JSON.stringify(body ?? null)}`;
  if (ctx.previews.has(key)) return { ok: true, value: ctx.previews.get(key) };
  const outcome = await cancellable(slot, label, (signal) => api(path, { method: "POST", body, signal }), ctx.tasks);
  if (outcome.ok) ctx.previews.set(key, outcome.value);
  return outcome;
}
