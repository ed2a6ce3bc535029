// Daily charts drawn locally as SVG (no chart library, nothing from the network). Each chart is a figure with
// a caption, an SVG with a <title> for screen readers, and the same numbers in a visually hidden table.

import { h, uid } from "../../dom.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 190;
const PAD = { top: 14, right: 10, bottom: 30, left: 58 };

function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(child));
  return element;
}

/** A round upper bound for the axis (1, 2, 5 × 10^n) so the tick labels are easy to read. */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= value);
  return step * power;
}

function dayLabel(date) {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}

function geometry(points) {
  const max = niceMax(Math.max(0, ...points.map((point) => point.value ?? 0)));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(1, points.length);
  return {
    max,
    slot,
    x: (index) => PAD.left + slot * index + slot / 2,
    y: (value) => PAD.top + plotHeight - (value / max) * plotHeight,
    bottom: PAD.top + plotHeight,
  };
}

// Counts get no fractional tick ("2.5 files").
function axes(points, shape, format, integer) {
  const group = svg("g", { class: "chart-axes", "aria-hidden": "true" });
  const fractions = [0, 0.5, 1].filter((fraction) => !integer || Number.isInteger(shape.max * fraction));
  for (const fraction of fractions) {
    const value = shape.max * fraction;
    const y = shape.y(value);
    group.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: "chart-grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "chart-label" }, format(value)),
    );
  }
  points.forEach((point, index) => {
    group.append(
      svg("text", { x: shape.x(index), y: HEIGHT - 10, "text-anchor": "middle", class: "chart-label" }, dayLabel(point.date)),
    );
  });
  return group;
}

function bars(points, shape, format) {
  const group = svg("g", { class: "chart-bars" });
  const width = Math.max(4, shape.slot * 0.6);
  points.forEach((point, index) => {
    const value = point.value ?? 0;
    const top = shape.y(value);
    group.append(
      svg(
        "rect",
        {
          class: "bar",
          x: shape.x(index) - width / 2,
          y: top,
          width,
          height: Math.max(0, shape.bottom - top),
          "data-value": value,
        },
        svg("title", {}, `${dayLabel(point.date)}: ${format(value)}`),
      ),
    );
  });
  return group;
}

// Days without a value (no runs) break the line instead of drawing a misleading zero.
function line(points, shape, format) {
  const group = svg("g", { class: "chart-line" });
  let segment = [];
  const flush = () => {
    if (segment.length > 1) group.append(svg("polyline", { points: segment.join(" "), class: "line" }));
    segment = [];
  };
  points.forEach((point, index) => {
    if (point.value === null || point.value === undefined) {
      flush();
      return;
    }
    const [x, y] = [shape.x(index), shape.y(point.value)];
    segment.push(`${x},${y}`);
    group.append(
      svg("circle", { cx: x, cy: y, r: 4, class: "dot", "data-value": point.value },
        svg("title", {}, `${dayLabel(point.date)}: ${format(point.value)}`)),
    );
  });
  flush();
  return group;
}

function dataTable(title, points, format) {
  return h(
    "table.visually-hidden",
    null,
    h("caption", null, `${title} (data)`),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, title))),
    h(
      "tbody",
      null,
      points.map((point) =>
        h("tr", null, h("td", null, point.date), h("td", null, point.value === null ? "no runs" : format(point.value))),
      ),
    ),
  );
}

/**
 * A daily chart.
 * @param {{title: string, points: Array<{date: string, value: number|null}>, format: (n: number) => string,
 *   kind?: "bar"|"line", integer?: boolean}} spec - points oldest first; `format` writes a value as it is read;
 *   `integer` for counts
 * @returns {HTMLElement} a <figure>
 */
export function dailyChart({ title, points, format, kind = "bar", integer = false }) {
  const titleId = uid("chart");
  const total = points.reduce((sum, point) => sum + (point.value ?? 0), 0);
  const description = kind === "bar" ? `${title}: ${format(total)} in ${points.length} days` : title;
  const shape = geometry(points);
  const drawing = svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": titleId,
      "aria-label": description,
      class: `chart-svg chart-${kind}`,
    },
    svg("title", { id: titleId }, description),
    axes(points, shape, format, integer),
    kind === "bar" ? bars(points, shape, format) : line(points, shape, format),
  );
  return h("figure.chart", null, h("figcaption", null, title), drawing, dataTable(title, points, format));
}
