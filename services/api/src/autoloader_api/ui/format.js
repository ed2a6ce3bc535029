// Formatting of numbers, sizes, times and statuses, the same way on every screen.

const numberFormat = new Intl.NumberFormat("en-US");

export function number(value) {
  return value === null || value === undefined ? "–" : numberFormat.format(value);
}

export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let size = Number(value);
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? size : size.toFixed(size < 10 ? 1 : 0)} ${units[unit]}`;
}

export function money(amount, currency = "USD") {
  if (amount === null || amount === undefined) return "–";
  const digits = amount !== 0 && Math.abs(amount) < 1 ? 4 : 2;
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency,
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  }).format(amount);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(value % 1 ? 1 : 0)}%`;
}

/** "3 min ago", "in 2 h": a time relative to now; the exact time goes in the element's title. */
export function relative(iso, now = Date.now()) {
  if (!iso) return "–";
  const delta = (new Date(iso).getTime() - now) / 1000;
  const magnitude = Math.abs(delta);
  const steps = [
    [60, 1, "s"],
    [3600, 60, "min"],
    [86400, 3600, "h"],
    [Infinity, 86400, "d"],
  ];
  if (magnitude < 10) return "just now";
  const [, size, unit] = steps.find(([limit]) => magnitude < limit);
  const amount = Math.round(magnitude / size);
  return delta < 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}

export function dateTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

// Every status is shown as a word with an icon-like symbol, never by colour alone.
const BADGES = {
  healthy: ["ok", "✓"],
  success: ["ok", "✓"],
  active: ["ok", "●"],
  loaded: ["ok", "✓"],
  applied: ["ok", "✓"],
  resolved: ["ok", "✓"],
  reachable: ["ok", "✓"],
  warning: ["warn", "!"],
  partial: ["warn", "!"],
  pending: ["warn", "!"],
  skipped: ["neutral", "–"],
  error: ["bad", "✕"],
  failed: ["bad", "✕"],
  unreachable: ["bad", "✕"],
  paused: ["neutral", "Ⅱ"],
  draft: ["neutral", "✎"],
  queued: ["info", "…"],
  running: ["info", "↻"],
  loading: ["info", "↻"],
  discovered: ["info", "•"],
  cleared: ["neutral", "✓"],
};

/** A status badge element: word + symbol + colour. */
export function badge(status) {
  const [tone, symbol] = BADGES[status] || ["neutral", "•"];
  const element = document.createElement("span");
  element.className = `badge badge-${tone}`;
  element.dataset.status = status;
  const mark = document.createElement("span");
  mark.setAttribute("aria-hidden", "true");
  mark.textContent = symbol;
  element.append(mark, ` ${status}`);
  return element;
}

export const SOURCE_LABELS = {
  s3: "Amazon S3",
  azure_blob: "Azure Blob",
  gcs: "Google Cloud Storage",
  ftp: "FTP",
  sftp: "SFTP",
  local: "Local folder",
};

/** `catalog.db.table` of an ingestion's destination. */
export function tableName(destination) {
  return [destination.catalog, destination.database, destination.table].join(".");
}
