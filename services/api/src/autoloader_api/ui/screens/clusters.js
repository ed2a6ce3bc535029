// Clusters: where ingestions load. The list, a form to add or edit one (the token is write-only: never shown,
// empty keeps it, "Remove token" clears it), a connection test that can be abandoned, and delete.

import { ApiError, allItems, api } from "../api.js";
import { confirmDialog, h, replace, toast } from "../dom.js";
import { busyButton, checkbox, clearProblems, field, input, select, showProblem } from "../forms.js";
import { money, number } from "../format.js";
import { dataTable, numCell, summaryList } from "./detail/common.js";

const COMMIT_STRATEGIES = [
  ["staged", "staged — the loader commits the files the cluster wrote (default)"],
  ["native", "native — the cluster commits to its own catalog"],
];

function hourly(pricing) {
  return pricing.nodes * pricing.units_per_node_hour * pricing.price_per_unit;
}

function pricingText(pricing) {
  const parts = `${number(pricing.nodes)} node${pricing.nodes === 1 ? "" : "s"} × ${number(pricing.units_per_node_hour)}`
    + ` units/node·h × ${money(pricing.price_per_unit, pricing.currency)}`;
  return [h("strong", null, `${money(hourly(pricing), pricing.currency)}/h`), h("div.muted", null, parts)];
}

// ---- the form ----

function numberInput(name, value, min) {
  return input({ type: "number", name, value: String(value), min: String(min), step: "any", inputmode: "decimal" });
}

function formControls(cluster) {
  const pricing = cluster?.pricing || { nodes: 1, units_per_node_hour: 0, price_per_unit: 0, currency: "USD" };
  return {
    name: input({ name: "name", value: cluster?.name || "" }),
    url: input({ name: "url", value: cluster?.url || "", placeholder: "sc://spark.example.com:15002" }),
    // Write-only: never prefilled, whatever the API says is stored.
    token: input({ type: "password", name: "token", autocomplete: "new-password" }),
    removeToken: cluster?.token ? checkbox({ label: "Remove the stored token", name: "token_remove" }) : null,
    catalog: input({ name: "catalog", value: cluster?.catalog || "lake" }),
    commit: select(COMMIT_STRATEGIES, { name: "commit_strategy", value: cluster?.commit_strategy || "staged" }),
    nodes: numberInput("nodes", pricing.nodes, 1),
    units: numberInput("units_per_node_hour", pricing.units_per_node_hour, 0),
    price: numberInput("price_per_unit", pricing.price_per_unit, 0),
    currency: input({ name: "currency", value: pricing.currency, maxlength: "3" }),
  };
}

function tokenHint(cluster) {
  if (!cluster) return "Optional; sent as the Spark Connect bearer token and stored encrypted.";
  return cluster.token ? "A token is stored. Leave empty to keep it, or type a new one to replace it."
    : "No token stored. Type one to add it.";
}

function connectionFields(controls, cluster) {
  if (cluster?.kind === "embedded") return null;
  return [
    field({ label: "Kind", name: "kind", control: h("input", { type: "text", value: "Spark Connect", readonly: true }),
      hint: "Spark Connect is the only kind you can add; the embedded engine exists already." }),
    field({ label: "URL", name: "url", control: controls.url, required: true, hint: "sc://host:port" }),
    field({ label: "Token", name: "token", control: controls.token, hint: tokenHint(cluster) }),
    controls.removeToken,
    field({ label: "Commit strategy", name: "commit_strategy", control: controls.commit }),
  ];
}

function pricingFields(controls) {
  return h(
    "fieldset.pricing",
    null,
    h("legend", null, "Pricing"),
    h("div.grid-2", null,
      field({ label: "Nodes", name: "pricing.nodes", control: controls.nodes, hint: "1 or more" }),
      field({ label: "Units per node-hour", name: "pricing.units_per_node_hour", control: controls.units,
        hint: "e.g. DBUs per node and hour" }),
      field({ label: "Price per unit", name: "pricing.price_per_unit", control: controls.price }),
      field({ label: "Currency", name: "pricing.currency", control: controls.currency, hint: "USD" })),
  );
}

function numberValue(control) {
  return control.value === "" ? undefined : Number(control.value);
}

function tokenValue(controls) {
  if (controls.removeToken?.querySelector("input").checked) return null;
  return controls.token.value ? controls.token.value : undefined; // undefined: keep (or none for a new one)
}

function formBody(controls, cluster) {
  const body = {
    name: controls.name.value.trim(),
    catalog: controls.catalog.value.trim(),
    pricing: {
      nodes: numberValue(controls.nodes),
      units_per_node_hour: numberValue(controls.units),
      price_per_unit: numberValue(controls.price),
      currency: controls.currency.value.trim().toUpperCase(),
    },
  };
  if (cluster?.kind === "embedded") return body;
  Object.assign(body, { url: controls.url.value.trim() || null, commit_strategy: controls.commit.value });
  if (!cluster) body.kind = "spark_connect";
  const token = tokenValue(controls);
  if (token !== undefined) body.token = token;
  return body;
}

function clusterForm(cluster, { onSaved, onCancel }) {
  const controls = formControls(cluster);
  const titleText = cluster ? `Edit cluster “${cluster.name}”` : "Add a Spark Connect cluster";
  const form = h(
    "form.panel.cluster-form",
    { novalidate: true, "aria-labelledby": "cluster-form-title" },
    h("h2", { id: "cluster-form-title" }, titleText),
    h("div.grid-2", null,
      field({ label: "Name", name: "name", control: controls.name, required: true }),
      field({ label: "Catalog", name: "catalog", control: controls.catalog, hint: "The Iceberg catalog tables go to" })),
    connectionFields(controls, cluster),
    pricingFields(controls),
    h("div.actions", null,
      h("button.btn.btn-primary", { type: "submit" }, cluster ? "Save changes" : "Add cluster"),
      h("button.btn", { type: "button", onclick: onCancel }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems(form);
    const path = cluster ? `/clusters/${encodeURIComponent(cluster.id)}` : "/clusters";
    try {
      const saved = await api(path, { method: cluster ? "PUT" : "POST", body: formBody(controls, cluster) });
      toast(cluster ? `Saved ${saved.name}.` : `Added ${saved.name}.`, "ok");
      onSaved(saved);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

// ---- connection test ----

function yesNo(value) {
  return value === null || value === undefined ? null : value ? "yes" : "no";
}

function testReport(cluster, result) {
  return [
    h(`p.notice.${result.reachable && result.authenticated !== false ? "notice-ok" : "notice-warn"}`, null,
      h("strong", null, result.reachable ? "✓ Reachable. " : "✕ Not reachable. "), result.message),
    summaryList([
      ["Reachable", yesNo(result.reachable)],
      ["Authenticated", yesNo(result.authenticated)],
      ["Spark version", result.spark_version],
      ["Round trip", result.round_trip_ms === null || result.round_trip_ms === undefined ? null
        : `${number(Math.round(result.round_trip_ms))} ms`],
      ["Problem", result.error_kind],
      ["Catalogs", result.catalogs?.length ? result.catalogs.join(", ") : null],
      ["Catalog found", yesNo(result.catalog_found)],
    ]),
  ];
}

// Up to 30 s against a real cluster: show progress and let the user give up.
async function testConnection(cluster, slot) {
  const controller = new AbortController();
  const heading = h("h2", { id: "test-title" }, `Connection test: ${cluster.name}`);
  replace(slot, heading, h("p.progress", { role: "status" }, h("span.spinner", { "aria-hidden": "true" }),
    " Testing the connection (this can take up to 30 seconds)… ",
    h("button.btn.btn-small", { type: "button", onclick: () => controller.abort() }, "Cancel")));
  slot.hidden = false;
  try {
    const result = await api(`/clusters/${encodeURIComponent(cluster.id)}/test-connection`, {
      method: "POST",
      signal: controller.signal,
    });
    replace(slot, heading, h("div", { role: "status" }, ...testReport(cluster, result)));
  } catch (error) {
    const text = error.name === "AbortError" ? "Test cancelled." : `The test could not run: ${error.message}`;
    replace(slot, heading, h("p.notice.notice-warn", { role: "status" }, text));
  }
}

// ---- the list ----

function rowActions(cluster, handlers) {
  return h(
    "div.actions",
    null,
    h("button.btn.btn-small", { type: "button", onclick: () => handlers.edit(cluster),
      "aria-label": `Edit ${cluster.name}` }, "Edit"),
    busyButton("Test connection", () => handlers.test(cluster),
      { class: "btn-small", "aria-label": `Test connection of ${cluster.name}` }),
    cluster.kind === "embedded"
      ? h("span.muted.small", null, "Built in: every tenant keeps it, so it cannot be deleted.")
      : busyButton("Delete", () => handlers.remove(cluster),
        { class: "btn-small btn-danger", "aria-label": `Delete ${cluster.name}` }),
  );
}

function clusterRow(cluster, handlers) {
  return h(
    "tr",
    { dataset: { clusterId: cluster.id } },
    h("th", { scope: "row" }, cluster.name),
    h("td", null, cluster.kind === "embedded" ? "embedded" : "Spark Connect"),
    h("td.mono", null, cluster.url || "–"),
    h("td.mono", null, cluster.catalog),
    h("td", null, cluster.kind === "embedded" ? "–" : cluster.commit_strategy),
    h("td", null, pricingText(cluster.pricing)),
    numCell(number(cluster.ingestion_count)),
    h("td", null, rowActions(cluster, handlers)),
  );
}

const HEADERS = ["Name", "Kind", "URL", "Catalog", "Commit", "Pricing", ["Ingestions", true], "Actions"];

/** Draw the clusters screen. */
export async function render(main) {
  const formSlot = h("div");
  const message = h("div", { role: "status" });
  const testSlot = h("section.panel.test-result", { hidden: true, "aria-labelledby": "test-title" });
  const body = h("tbody");
  const refresh = async () => {
    const clusters = await allItems("/clusters");
    replace(body, ...clusters.map((cluster) => clusterRow(cluster, handlers)));
  };
  const closeForm = () => replace(formSlot);
  const openForm = (cluster) => {
    const form = clusterForm(cluster, { onSaved: () => {
      closeForm();
      return refresh();
    }, onCancel: closeForm });
    replace(formSlot, form);
    form.querySelector("input")?.focus();
  };
  const handlers = {
    edit: openForm,
    test: (cluster) => testConnection(cluster, testSlot),
    remove: (cluster) => removeCluster(cluster, message, refresh),
  };
  replace(
    main,
    h("div.page-head", null, h("h1", null, "Clusters"),
      h("div.actions", null, h("button.btn.btn-primary", { type: "button", onclick: () => openForm(null) },
        "Add a cluster"))),
    h("p.muted", null, "Ingestions load on a cluster: the embedded engine (built in), or a Spark Connect cluster you add."),
    message,
    formSlot,
    h("div.clusters-list", null, dataTable(HEADERS, [], { caption: "Clusters", body })),
    testSlot,
  );
  await refresh();
}

async function removeCluster(cluster, message, refresh) {
  replace(message);
  const confirmed = await confirmDialog({
    title: `Delete ${cluster.name}?`,
    body: h("p", null, "The cluster's registration and token are removed; the cluster itself is not touched."),
    confirmLabel: "Delete",
    danger: true,
  });
  if (!confirmed) return;
  try {
    await api(`/clusters/${encodeURIComponent(cluster.id)}`, { method: "DELETE" });
    toast(`Deleted ${cluster.name}.`, "ok");
    await refresh();
  } catch (error) {
    const text = error instanceof ApiError && error.status === 409 ? `${cluster.name} cannot be deleted: ${error.message}.`
      : `Delete failed: ${error.message}`;
    replace(message, h("p.notice.notice-warn", null, text));
  }
}
