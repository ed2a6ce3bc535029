// Events tab: the ingestion's audit history (its own events and its runs'), newest first.

import { h, replace } from "../../dom.js";
import { dateTime } from "../../format.js";
import { ingestionPath, listPage, pager, timeAgo } from "./common.js";

const MAX_VALUE = 160;

function valueText(value) {
  const text = value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

function dataList(data) {
  const entries = Object.entries(data || {});
  if (!entries.length) return null;
  return h("dl.kv", null, entries.map(([key, value]) => [h("dt", null, key), h("dd.mono", { title: valueText(value) },
    valueText(value))]));
}

function eventItem(event) {
  return h(
    "li.event",
    null,
    h(
      "div.event-head",
      null,
      h("strong.mono", null, event.type),
      h("span.muted", null, " by ", event.actor),
      h("span.muted.event-time", null, timeAgo(event.occurred_at), ` · ${dateTime(event.occurred_at)}`),
    ),
    dataList(event.data),
  );
}

/** Draw the event history with "Load more". */
export async function render(panel, ctx) {
  const list = h("ol.events", { "aria-label": "Events, newest first" });
  const empty = h("p.empty", { hidden: true }, "No events yet.");
  const show = (items, first) => {
    if (first) replace(list);
    list.append(...items.map(eventItem));
    empty.hidden = list.children.length > 0;
  };
  const pages = pager((cursor) => listPage(ingestionPath(ctx.id, "events"), { limit: 30 }, cursor, ctx.signal), show);
  replace(panel, h("h2", null, "Event history"), list, empty, pages.element);
  await pages.reload();
}
