// The advice card: the top items of /api/ai_usage/advice with their saving per month, as text only.

import { syncRows } from "./dom.js";

/** How many items the card lists (those with a saving, highest first). */
export const ADVICE_ROWS = 5;

/** The card's rows: items that save money, highest first, at most ``ADVICE_ROWS``. */
export function topAdvice(data) {
  return (data?.items ?? []).filter((item) => item.monthly_saving > 0).slice(0, ADVICE_ROWS);
}

/** What to do, in the page's language (the API's ``detail`` says how it was computed: the row's tooltip). */
function action(item, t, nameOr) {
  const boundaries = item.evidence?.tier_boundaries ?? [];
  return t(`advice_${item.kind}`, {
    model: nameOr(item.model),
    to_model: nameOr(item.to_model),
    tokens: boundaries.length ? boundaries[0].toLocaleString("en-US") : "—",
    share: Math.round((item.evidence?.target_share ?? 0) * 100),
    count: item.evidence?.failed_calls ?? 0,
  });
}

/**
 * Fill the card's table body. helpers: { t, money, nameOr }; ``data`` is the API's answer, ``null`` while
 * none has arrived, or an Error when the request failed.
 */
export function renderAdvice(tbody, data, { t, money, nameOr }) {
  const items = data instanceof Error || data === null ? [] : topAdvice(data);
  const top = Math.max(0, ...items.map((item) => item.monthly_saving));
  const columns = [
    (item) => ({ text: t(`advice_kind_${item.kind}`), className: "name", testid: "advice-kind" }),
    (item) => ({ text: nameOr(item.function), title: nameOr(item.function), className: "name" }),
    (item) => ({ text: action(item, t, nameOr), title: item.detail, className: "advice-action" }),
    (item) => ({
      text: money(item.monthly_saving),
      value: item.monthly_saving,
      className: "num cost",
      bar: top > 0 ? item.monthly_saving / top : 0,
    }),
  ];
  let empty = "advice_none";
  if (data === null) empty = "loading";
  else if (data instanceof Error) empty = "advice_unavailable";
  syncRows(tbody, items, columns, t(empty));
}
