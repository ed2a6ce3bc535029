// Step 1: where the files are. Which credential fields and options each type has comes from GET /capabilities
// (built from the API's source rules); this file adds labels and hints. Credentials are write-only inputs that are
// never prefilled.

import { api } from "../../api.js";
import { h, replace } from "../../dom.js";
import { field, input, select, showProblem } from "../../forms.js";
import { bytes, dateTime, number } from "../../format.js";
import { cancellable, choiceGroup, dataTable, fieldError, humanise, offered, section } from "./parts.js";
import { sourceBody, usesStoredSecrets } from "./state.js";

const SOURCES = {
  s3: {
    label: "Amazon S3",
    blurb: "S3 or an S3-compatible store",
    path: "s3://bucket/prefix/",
    credentials: [
      ["access_key_id", "Access key ID"],
      ["secret_access_key", "Secret access key"],
      ["session_token", "Session token (optional)"],
    ],
    credentialHint: "Leave empty to use the server's own identity (instance role, environment).",
    options: [
      { name: "endpoint_url", label: "Endpoint URL", kind: "text", placeholder: "https://s3.example.com" },
      { name: "region", label: "Region", kind: "text", placeholder: "us-east-1" },
      { name: "path_style", label: "Path-style addressing", kind: "bool" },
      { name: "max_attempts", label: "Max attempts", kind: "int" },
      { name: "connect_timeout", label: "Connect timeout (s)", kind: "number" },
      { name: "read_timeout", label: "Read timeout (s)", kind: "number" },
    ],
  },
  azure_blob: {
    label: "Azure Blob",
    blurb: "Blob Storage or ADLS Gen2",
    path: "abfss://container@account.dfs.core.windows.net/dir/",
    credentials: [
      ["connection_string", "Connection string"],
      ["account_key", "Account key"],
      ["sas_token", "SAS token"],
    ],
    credentialHint: "Fill exactly one of the three.",
    options: [
      { name: "endpoint_url", label: "Endpoint URL", kind: "text", placeholder: "https://account.blob.core.windows.net" },
      { name: "retry_total", label: "Retries", kind: "int" },
    ],
  },
  gcs: {
    label: "Google Cloud Storage",
    blurb: "A GCS bucket",
    path: "gs://bucket/prefix/",
    credentials: [["service_account_json", "Service account key (JSON)"]],
    credentialHint: "Paste the key file's content; leave empty to use the server's own identity.",
    options: [{ name: "endpoint_url", label: "Endpoint URL", kind: "text", placeholder: "https://storage.googleapis.com" }],
  },
  ftp: {
    label: "FTP",
    blurb: "An FTP or FTPS server",
    path: "ftp://host:21/dir/",
    credentials: [
      ["username", "User name"],
      ["password", "Password"],
    ],
    credentialHint: "Leave empty for anonymous FTP.",
    options: [
      { name: "tls", label: "Use TLS (FTPS)", kind: "bool" },
      { name: "passive", label: "Passive mode", kind: "bool" },
      { name: "ca_cert", label: "CA certificate (PEM)", kind: "text" },
      { name: "timeout", label: "Timeout (s)", kind: "number" },
    ],
  },
  sftp: {
    label: "SFTP",
    blurb: "An SSH file server",
    path: "sftp://host:22/dir/",
    credentials: [
      ["username", "User name"],
      ["password", "Password"],
      ["private_key", "Private key (PEM)", "textarea"],
      ["passphrase", "Key passphrase"],
    ],
    credentialHint: "A user name and a password or a private key.",
    options: [
      {
        name: "host_key",
        label: "Host key",
        kind: "text",
        required: true,
        placeholder: "ssh-ed25519 AAAA…",
        hint: "The server's public host key; a different server is refused.",
      },
      { name: "timeout", label: "Timeout (s)", kind: "number" },
    ],
  },
  local: {
    label: "Local folder",
    blurb: "A folder on the Autoloader server",
    path: "/abs/path",
    credentials: [],
    options: [],
  },
};

const CARD_ORDER = ["s3", "azure_blob", "gcs", "ftp", "sftp", "local"];
// A listing tuning knob every type accepts; left to the API's default here.
const HIDDEN_OPTIONS = new Set(["page_size"]);

/** The fields of `type`: the credential and option names the API accepts, with this file's labels. */
function specFor(type, capabilities) {
  const spec = SOURCES[type];
  const accepted = capabilities?.source_types?.[type];
  if (!accepted) return spec;
  const options = accepted.options.filter((name) => !HIDDEN_OPTIONS.has(name));
  return {
    ...spec,
    credentials: offered(accepted.credential_fields, spec.credentials, ([name]) => name, (name) => [name, humanise(name)]),
    options: offered(options, spec.options, (option) => option.name, (name) => ({
      name,
      label: humanise(name),
      kind: "text",
      required: accepted.required_options.includes(name),
    })),
  };
}

export const title = "Source";

/** Draw the source step into `panel`. */
export function render(panel, ctx) {
  const { draft } = ctx;
  const details = h("div.source-details");
  const drawDetails = () => replace(details, sourceDetails(ctx));
  const cards = choiceGroup({
    legend: "Source type",
    name: "source.type",
    cards: true,
    disabled: ctx.frozen,
    value: draft.source.type,
    options: CARD_ORDER.map((type) => ({ value: type, label: SOURCES[type].label, description: SOURCES[type].blurb })),
    onChange: (type) => {
      draft.source.type = type;
      draft.source.options = {};
      draft.secrets = {};
      ctx.connection = null;
      drawDetails();
    },
  });
  const name = input({ name: "name", value: draft.name, maxlength: 128, oninput: (e) => (draft.name = e.target.value) });
  drawDetails();
  replace(
    panel,
    ctx.frozen ? h("p.notice", { role: "note" }, ctx.frozenReason) : null,
    field({ label: "Ingestion name", name: "name", control: name, required: true, hint: "Shown on the dashboard." }),
    cards,
    details,
  );
}

function sourceDetails(ctx) {
  const { draft } = ctx;
  const spec = specFor(draft.source.type, ctx.capabilities);
  return [
    pathFields(ctx, spec),
    spec.credentials.length ? credentialFields(ctx, spec) : null,
    spec.options.length ? optionFields(ctx, spec) : null,
    connectionBlock(ctx),
  ];
}

function pathFields(ctx, spec) {
  const { source } = ctx.draft;
  const bind = (key) => (event) => {
    source[key] = event.target.value;
    ctx.connection = null;
  };
  const path = input({ value: source.path, placeholder: spec.path, disabled: ctx.frozen, oninput: bind("path") });
  const pattern = input({ value: source.file_pattern, placeholder: "**/*.csv", disabled: ctx.frozen, oninput: bind("file_pattern") });
  const exclude = input({ value: source.exclude_pattern, placeholder: "**/_tmp/*", disabled: ctx.frozen, oninput: bind("exclude_pattern") });
  return h(
    "div",
    null,
    field({ label: "Path", name: "source.path", control: path, required: true, hint: `For example ${spec.path}` }),
    h(
      "div.grid-2",
      null,
      field({ label: "File pattern", name: "source.file_pattern", control: pattern, required: true, hint: "A glob below the path: *.csv, **/*.json" }),
      field({ label: "Exclude pattern", name: "source.exclude_pattern", control: exclude, hint: "Optional glob of files to leave out." }),
    ),
  );
}

function credentialFields(ctx, spec) {
  const { draft } = ctx;
  const stored = draft.storedSecrets;
  const controls = spec.credentials.map(([name, label, kind]) => {
    const attrs = {
      name: `credential-${name}`,
      autocomplete: "new-password",
      placeholder: stored.includes(name) ? "stored — leave empty to keep" : "",
      oninput: (event) => {
        draft.secrets[name] = event.target.value;
        ctx.connection = null;
      },
    };
    const control = kind === "textarea" ? h("textarea.secret", attrs) : input({ ...attrs, type: "password" });
    return field({ label, name: `source.credentials.${name}`, control });
  });
  const hint = [spec.credentialHint, stored.length ? "Stored values are never shown; type a new value to replace one." : null]
    .filter(Boolean)
    .join(" ");
  return section(
    "Credentials",
    h("p.hint", null, hint),
    h("p.field-error", { dataset: { errorFor: "source.credentials" } }),
    h("div.grid-2", null, controls),
  );
}

function optionFields(ctx, spec) {
  const { options } = ctx.draft.source;
  const controls = spec.options.map((option) => {
    const control = optionControl(option, options[option.name], ctx.frozen, (value) => {
      if (value === undefined) delete options[option.name];
      else options[option.name] = value;
      ctx.connection = null;
    });
    return field({ label: option.label, name: `source.options.${option.name}`, control, required: option.required, hint: option.hint });
  });
  return section("Options", h("div.grid-2", null, controls));
}

// Options are sent only when set, typed as the API checks them (booleans, integers, seconds).
function optionControl(option, value, disabled, set) {
  if (option.kind === "bool") {
    const current = value === undefined ? "" : String(value);
    return select([["", "Default"], ["true", "Yes"], ["false", "No"]], {
      value: current,
      disabled,
      onchange: (event) => set(event.target.value === "" ? undefined : event.target.value === "true"),
    });
  }
  const numeric = option.kind === "int" || option.kind === "number";
  return input({
    type: numeric ? "number" : "text",
    step: option.kind === "number" ? "any" : null,
    min: numeric ? "0" : null,
    value: value ?? "",
    placeholder: option.placeholder,
    disabled,
    oninput: (event) => {
      const text = event.target.value.trim();
      if (text === "") set(undefined);
      else set(numeric ? Number(text) : text);
    },
  });
}

function connectionBlock(ctx) {
  const result = h("div.connection-result", { "aria-live": "polite" });
  if (ctx.connection) replace(result, connectionReport(ctx.connection));
  const button = h("button.btn", { type: "button", onclick: () => testConnection(ctx, result, button) }, "Test connection");
  return section("Connection", h("div.actions", null, button), result);
}

async function testConnection(ctx, slot, button) {
  const panel = slot.closest(".wizard-step");
  if (!checkRequired(panel, ctx)) return null;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const outcome = await cancellable(slot, "Listing the source…", (signal) => probe(ctx, signal), ctx.tasks);
  button.disabled = false;
  button.removeAttribute("aria-busy");
  if (outcome.ok) {
    ctx.connection = outcome.value;
    replace(slot, connectionReport(outcome.value));
  } else if (outcome.aborted) {
    replace(slot, h("p.muted", null, "Connection test cancelled."));
  } else {
    replace(slot);
    showProblem(panel, outcome.error);
  }
  return outcome;
}

// Stored credentials cannot be sent back (the API only shows the mask), so a saved ingestion that keeps them
// is checked with its own preview, which uses what is stored.
async function probe(ctx, signal) {
  if (ctx.id && usesStoredSecrets(ctx.draft)) {
    const preview = await api(`/ingestions/${ctx.id}/preview?sample_rows=1`, { method: "POST", signal });
    return {
      ...preview.connection,
      file_count: preview.files.count,
      total_bytes: preview.files.bytes,
      capped: preview.files.count_is_lower_bound,
      sample: preview.files.first.slice(0, 5),
    };
  }
  return api("/ingestions/test-connection", { method: "POST", body: { source: sourceBody(ctx.draft) }, signal });
}

function connectionReport(report) {
  if (!report.reachable || !report.authorised) {
    const what = report.reachable ? "Connected, but access was refused" : "The source could not be reached";
    return h("div.notice.notice-warn", { role: "alert" }, h("strong", null, `✕ ${what}: `), report.message);
  }
  const count = `${report.capped ? "at least " : ""}${number(report.file_count)} file${report.file_count === 1 ? "" : "s"}`;
  return h(
    "div.connection-ok",
    null,
    h("p.notice.notice-ok", null, h("strong", null, `✓ Connected: ${count} found`), `, ${bytes(report.total_bytes)} in total.`),
    report.sample?.length
      ? dataTable({
          caption: "Sample of the files found",
          rows: report.sample,
          columns: [
            { label: "File", value: (file) => h("span.mono", null, file.path) },
            { label: "Size", value: (file) => bytes(file.size), num: true },
            { label: "Modified", value: (file) => dateTime(file.modified_at) },
          ],
        })
      : h("p.muted", null, "No file matches the pattern yet."),
  );
}

function checkRequired(panel, ctx) {
  const { draft } = ctx;
  for (const slot of panel.querySelectorAll(".field-error")) slot.textContent = "";
  if (!draft.name.trim()) return fieldError(panel, "name", "Give the ingestion a name.");
  if (!draft.source.path.trim()) return fieldError(panel, "source.path", `Enter the path, e.g. ${SOURCES[draft.source.type].path}`);
  if (!draft.source.file_pattern.trim()) return fieldError(panel, "source.file_pattern", "Enter a file pattern such as *.csv.");
  const missing = SOURCES[draft.source.type].options.find((option) => option.required && draft.source.options[option.name] === undefined);
  if (missing) return fieldError(panel, `source.options.${missing.name}`, `${missing.label} is required.`);
  return true;
}

/** Next: the required fields, then the API lists the source; an unreachable source keeps the user here. */
export async function validate(panel, ctx) {
  if (!checkRequired(panel, ctx)) return false;
  if (ctx.connection?.reachable && ctx.connection.authorised) return true;
  const slot = panel.querySelector(".connection-result");
  const button = panel.querySelector(".connection-result")?.previousElementSibling?.querySelector("button");
  const outcome = await testConnection(ctx, slot, button);
  return Boolean(outcome?.ok && outcome.value.reachable && outcome.value.authorised);
}

/** Save-as-draft needs only a name and a path. */
export function validateForDraft(panel, ctx) {
  return checkRequired(panel, ctx);
}
