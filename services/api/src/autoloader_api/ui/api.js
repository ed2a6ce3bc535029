// The UI's only way to the back end: the public /api/v1 routes with the tenant's API key.
// The key lives in sessionStorage (gone when the tab closes), is sent only in the Authorization header and never
// appears in a URL.

const KEY_ITEM = "autoloader.apiKey";
const BASE = "/api/v1";

/** An API answer that is not 2xx, carrying the problem details (detail and per-field errors). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `the server answered ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

let onUnauthorized = () => {};

/** Called when the API refuses the key (revoked, or the wrong one): the app goes back to sign-in. */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/**
 * Call the API and return its JSON (null for 204).
 * @param {string} path - below /api/v1, e.g. "/ingestions?limit=50"
 * @param {{method?: string, body?: any, signal?: AbortSignal, key?: string}} options
 * @throws {ApiError} on any non-2xx answer; a network failure becomes an ApiError with status 0.
 */
export async function api(path, { method = "GET", body, signal, key } = {}) {
  const headers = { Accept: "application/json" };
  const token = key ?? apiKey();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: "the Autoloader server cannot be reached; is it running?" });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  const data = text ? safeJson(text) : null;
  if (!response.ok) {
    if (response.status === 401 && key === undefined) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

// Iceberg snapshot ids are 64-bit integers, beyond what a JS number holds exactly: keep those as their exact
// digits (a string) instead of a rounded number (JSON.parse's source-text access gives the digits).
function exactIntegers(key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value) && context?.source) {
    return context.source;
  }
  return value;
}

function safeJson(text) {
  try {
    return JSON.parse(text, exactIntegers);
  } catch {
    return { detail: text };
  }
}

/** Build a query string from the defined, non-empty values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Every item of a paginated list (follows next_cursor; bounded by `max` items). */
export async function allItems(path, { max = 1000, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${separator}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
      signal,
    });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
