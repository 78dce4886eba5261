// The budgets card: each budget of /api/ai_usage/budgets with a bar of spent / limit, its state, when it
// resets and, from /api/ai_usage/forecast, when it runs out at the current pace. Text only.

import { syncRows } from "./dom.js";

/** The run-out date per budget name from the forecast's ``budgets`` (absent: not known yet). */
function runOuts(forecast) {
  const found = new Map();
  for (const budget of forecast?.budgets ?? []) found.set(budget.name, budget.runs_out_at);
  return found;
}

/** "name" or "name · value" (a "*" budget's scope value; none yet: the scope key with "*"). */
function label(row, t) {
  if (row.scope_value === "") return row.name;
  const value = row.scope_value ?? t("budget_no_value", { keys: Object.keys(row.scope).join(", ") });
  return `${row.name} · ${value}`;
}

/**
 * Fill the card. helpers: { t, money, dateTime, card, omittedNode }; ``data`` is the API's answer, ``null``
 * while none has arrived, or an Error. The card is hidden when no budget is configured.
 */
export function renderBudgets(tbody, data, forecast, { t, money, dateTime, card, omittedNode }) {
  const rows = data instanceof Error || data === null ? [] : data.budgets;
  card.hidden = data !== null && !(data instanceof Error) && rows.length === 0;
  const runOut = runOuts(forecast);
  const columns = [
    (row) => ({ text: label(row, t), title: label(row, t), className: "name", testid: "budget-name" }),
    (row) => ({
      text: `${money(row.spent)} / ${money(row.limit)}`,
      value: row.ratio,
      title: t("budget_reserved", { amount: money(row.reserved) }),
      className: `num budget-used state-${row.state}`,
      bar: Math.min(1, row.ratio),
    }),
    (row) => ({
      text: t(`budget_state_${row.state}`),
      value: row.state,
      className: `budget-state state-${row.state}`,
      testid: "budget-state",
    }),
    (row) => ({ text: dateTime(row.resets_at), value: row.resets_at, testid: "budget-resets" }),
    (row) => {
      const date = runOut.get(row.name);
      let text = "—";
      if (date) text = date;
      else if (date === null) text = t("budget_not_this_period");
      return { text, value: date ?? "", testid: "budget-runout" };
    },
  ];
  let empty = "budgets_none";
  if (data === null) empty = "loading";
  else if (data instanceof Error) empty = "budgets_unavailable";
  syncRows(tbody, rows, columns, t(empty));
  const more = data instanceof Error || data === null ? [] : data.omitted;
  const note = more.map((o) => t("budget_omitted", { name: o.name, count: o.count, spent: money(o.spent) }));
  omittedNode.hidden = note.length === 0;
  const text = note.join(" · ");
  if (omittedNode.textContent !== text) omittedNode.textContent = text;
}
