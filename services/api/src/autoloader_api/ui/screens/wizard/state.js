// The wizard's working copy of an ingestion and how it becomes an API body.
// The draft mirrors the create body (so API error paths such as "destination.table" name its fields); the
// only extra is `secrets`: what the user typed into write-only credential fields, never a stored value.

export const MASK = "********";

/** The browser's own IANA timezone (UTC when it cannot be told). */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** A new ingestion's starting values. */
export function emptyDraft() {
  return {
    name: "",
    source: { type: "local", path: "", file_pattern: "**/*", exclude_pattern: "", options: {} },
    secrets: {},
    storedSecrets: [],
    format: { type: "csv", options: {}, schema: { evolution_mode: "add_new_columns" } },
    destination: {
      catalog: "lake",
      database: "",
      table: "",
      write_mode: "append",
      merge_keys: [],
      partitioning: { enabled: false, columns: [] },
      lineage_columns: true,
    },
    schedule: { frequency: "daily", time: "02:00", timezone: browserZone() },
    errors: { on_error: "skip_file" },
    cluster_id: null,
    engine: { read_files: "auto" },
  };
}

/** The draft of a saved ingestion (GET /ingestions/{id}); credentials only say which fields are stored. */
export function draftOf(ingestion) {
  const { credentials = {}, ...source } = ingestion.source;
  return {
    name: ingestion.name,
    source: { ...source, exclude_pattern: source.exclude_pattern || "", options: { ...source.options } },
    secrets: {},
    storedSecrets: Object.keys(credentials),
    format: structuredClone(ingestion.format),
    destination: structuredClone(ingestion.destination),
    schedule: { ...ingestion.schedule },
    errors: { ...ingestion.errors },
    cluster_id: ingestion.cluster_id,
    engine: { ...ingestion.engine },
  };
}

/** A safe table name derived from the ingestion's name ("Orders 2024" -> "orders_2024"). */
export function tableSlug(name) {
  let slug = String(name || "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 120);
  if (!slug) return "";
  if (/^[0-9]/.test(slug)) slug = `t_${slug}`;
  return slug;
}

/** The credentials to send: typed values, and the mask for stored fields the user left alone. */
export function credentialsOf(draft) {
  const typed = Object.fromEntries(Object.entries(draft.secrets).filter(([, value]) => value !== ""));
  if (!Object.keys(typed).length) return undefined;
  const kept = Object.fromEntries(draft.storedSecrets.filter((name) => !(name in typed)).map((name) => [name, MASK]));
  return { ...kept, ...typed };
}

/** The source section of a body (credentials only when some were typed). */
export function sourceBody(draft) {
  const { exclude_pattern: exclude, ...rest } = draft.source;
  const source = { ...rest, options: { ...draft.source.options }, exclude_pattern: exclude ? exclude : null };
  const credentials = credentialsOf(draft);
  if (credentials) source.credentials = credentials;
  return source;
}

/**
 * A create body from the draft. Sections the user has not reached yet get stand-ins (a table named after the
 * ingestion, a manual schedule) so the preview can run early; `complete` says the user filled everything.
 */
export function createBody(draft, { complete = true } = {}) {
  const destination = { ...draft.destination };
  if (!complete) {
    destination.database ||= "default";
    destination.table ||= tableSlug(draft.name) || "preview";
  }
  return {
    name: draft.name || "new ingestion",
    source: sourceBody(draft),
    format: draft.format,
    destination,
    schedule: complete ? draft.schedule : { frequency: "manual", timezone: draft.schedule.timezone },
    errors: draft.errors,
    cluster_id: draft.cluster_id || null,
    engine: draft.engine,
  };
}

/**
 * A PUT body: sections that may change in the ingestion's status. Once active, source/format/destination are
 * frozen, so only the credentials (inside the unchanged source) may be sent.
 */
export function updateBody(draft, status) {
  const body = {
    name: draft.name,
    schedule: draft.schedule,
    errors: draft.errors,
    cluster_id: draft.cluster_id || null,
    engine: draft.engine,
  };
  if (status === "draft") {
    return { ...body, source: sourceBody(draft), format: draft.format, destination: draft.destination };
  }
  if (credentialsOf(draft)) body.source = sourceBody(draft);
  return body;
}

/** Whether the stored credentials are in use and none were retyped (the API never gives them back). */
export function usesStoredSecrets(draft) {
  return draft.storedSecrets.length > 0 && !credentialsOf(draft);
}
