// The dashboard: reads /api/ai_usage/dashboard every few seconds and updates the page in place.

import { renderAdvice } from "./advice.js";
import { renderBudgets } from "./budgets.js";
import { barChart, donutChart, lineChart, stackedBar } from "./charts.js";
import { setText, syncRows } from "./dom.js";
import {
  formatClock,
  formatCompact,
  formatDateTime,
  formatInt,
  formatMoney,
  formatMs,
  formatPercent,
  formatShortDate,
} from "./format.js";
import { pickLanguage, translate } from "./i18n.js";

const API_BASE = new URL("../api/ai_usage/", window.location.href);
const DEFAULT_REFRESH_S = 5;
const RANGES = ["1h", "today", "7d", "30d", "month"];
const KPI_PERIODS = ["current_hour", "today", "month", "selected"];
const TOP_SLICES = 7;
const TOP_BARS = 10;
const ADVICE_DAYS = 30;
const ADVICE_REFRESH_MS = 5 * 60 * 1000;
/** The forecast fits models: asked at most once a minute, not on every refresh. */
const FORECAST_EVERY_MS = 60_000;
/** The budgets' status may read a period's records: asked at most every 10 s. */
const BUDGETS_EVERY_MS = 10_000;
const STORE = {
  token: "ai_usage_monitor.token",
  lang: "ai_usage_monitor.lang",
  range: "ai_usage_monitor.range",
};

/** Seconds between refreshes: ``?refresh=N`` in the page URL (1–3600), else 5. */
function refreshSeconds() {
  const asked = Number(new URLSearchParams(window.location.search).get("refresh"));
  return Number.isInteger(asked) && asked >= 1 && asked <= 3600 ? asked : DEFAULT_REFRESH_S;
}

/** The service every panel is filtered by: ``?service=`` in the page URL, kept there; "" for all. */
function serviceFromUrl() {
  return new URLSearchParams(window.location.search).get("service") ?? "";
}

const state = {
  refreshS: refreshSeconds(),
  service: serviceFromUrl(),
  lang: pickLanguage(localStorage.getItem(STORE.lang), [navigator.language]),
  range: RANGES.includes(sessionStorage.getItem(STORE.range)) ? sessionStorage.getItem(STORE.range) : "today",
  data: null,
  advice: null,
  adviceTimer: 0,
  timer: 0,
  loading: false,
  again: false,
  waitingForToken: false,
  forecast: null,
  forecastAt: 0,
  budgets: null,
  budgetsAt: 0,
};

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const t = (key, params) => translate(state.lang, key, params);

class AuthRequired extends Error {}

async function getJson(path, params = {}) {
  const url = new URL(path, API_BASE);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(STORE.token);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { headers, cache: "no-store" });
  if (response.status === 401) throw new AuthRequired();
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return response.json();
}

// ---------------------------------------------------------------- refresh loop

function schedule(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, delay);
}

async function refresh() {
  clearTimeout(state.timer);
  if (state.waitingForToken) return;
  if (state.loading) {
    state.again = true;
    return;
  }
  state.loading = true;
  const { range, service } = state;
  try {
    const data = await getJson("dashboard", service ? { range, service } : { range });
    $("offline-banner").hidden = true;
    // An answer for a range or service the user has just left is dropped; the next request asks anew.
    if (range === state.range && service === state.service) {
      state.data = data;
      render();
    }
    refreshForecast();
    refreshBudgets();
  } catch (error) {
    if (error instanceof AuthRequired) {
      askForToken();
    } else {
      $("offline-banner").hidden = false;
      console.warn("dashboard refresh failed:", error.message);
    }
  } finally {
    state.loading = false;
  }
  if (state.waitingForToken) return;
  if (state.again) {
    state.again = false;
    schedule(0);
  } else {
    schedule(state.refreshS * 1000 * (document.hidden ? 6 : 1));
  }
}

/** The advice card's data: asked for on start and every few minutes (it re-prices the whole window). */
async function refreshAdvice() {
  clearTimeout(state.adviceTimer);
  if (state.waitingForToken) return;
  try {
    state.advice = await getJson("advice", { days: ADVICE_DAYS });
  } catch (error) {
    if (error instanceof AuthRequired) return; // the dashboard refresh asks for the token
    state.advice = error;
    console.warn("advice refresh failed:", error.message);
  }
  renderAdviceCard();
  state.adviceTimer = setTimeout(refreshAdvice, ADVICE_REFRESH_MS);
}

/** The budgets card's data (its run-out dates come from the forecast). */
async function refreshBudgets() {
  if (Date.now() - state.budgetsAt < BUDGETS_EVERY_MS) return;
  state.budgetsAt = Date.now();
  try {
    state.budgets = await getJson("budgets");
  } catch (error) {
    if (error instanceof AuthRequired) return;
    state.budgets = error;
    console.warn("budgets refresh failed:", error.message);
  }
  renderBudgetsCard();
}

/** The month-end forecast for the trend chart's band; without it the chart shows the past only. */
async function refreshForecast() {
  if (Date.now() - state.forecastAt < FORECAST_EVERY_MS) return;
  state.forecastAt = Date.now();
  try {
    state.forecast = await getJson("forecast");
    render();
  } catch (error) {
    console.warn("forecast refresh failed:", error.message);
  }
}

// ---------------------------------------------------------------- token

function askForToken() {
  const rejected = sessionStorage.getItem(STORE.token) !== null;
  sessionStorage.removeItem(STORE.token);
  state.waitingForToken = true;
  $("token-error").hidden = !rejected;
  $("token-overlay").hidden = false;
  $("token-input").focus();
}

function onTokenSubmit(event) {
  event.preventDefault();
  const input = $("token-input");
  const token = input.value.trim();
  if (!token) return;
  sessionStorage.setItem(STORE.token, token);
  input.value = "";
  $("token-overlay").hidden = true;
  state.waitingForToken = false;
  refresh();
  refreshAdvice();
}

// ---------------------------------------------------------------- rendering

function money(value) {
  return formatMoney(value, state.data?.currency ?? "CNY");
}

function nameOr(value) {
  return value === null || value === undefined || value === "" ? t("none") : String(value);
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) {
    setText(node, t(node.dataset.i18n));
  }
  for (const node of document.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  }
  setText(document.querySelector(".status-note"), t("live", { seconds: state.refreshS }));
  if (!state.data) setText($("updated-at"), t("loading"));
  for (const card of document.querySelectorAll(".kpi")) {
    setText(card.querySelector(".kpi-title"), t(`kpi_${card.dataset.period}`));
  }
}

function buildKpiCards() {
  const template = document.getElementById("kpi-card");
  const cards = KPI_PERIODS.map((period) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.period = period;
    card.dataset.testid = `kpi-${period}`;
    card.querySelector(".kpi-cost").dataset.testid = `kpi-${period}-cost`;
    card.querySelector(".kpi-calls").dataset.testid = `kpi-${period}-calls`;
    card.querySelector(".kpi-tokens").dataset.testid = `kpi-${period}-tokens`;
    card.querySelector(".kpi-success").dataset.testid = `kpi-${period}-success_rate`;
    for (const value of card.querySelectorAll(".kpi-cost, dd")) value.textContent = "—";
    if (period === "selected") {
      card.classList.add("kpi-selected");
      const fact = document.createElement("div");
      const dt = document.createElement("dt");
      dt.dataset.i18n = "avg_latency";
      const dd = document.createElement("dd");
      dd.dataset.testid = "kpi-selected-avg_duration_ms";
      dd.textContent = "—";
      fact.append(dt, dd);
      card.querySelector(".kpi-facts").append(fact);
    }
    return card;
  });
  $("kpis").replaceChildren(...cards);
}

function renderKpis(data) {
  for (const period of KPI_PERIODS) {
    const figures = data[period] ?? {};
    setText($(`kpi-${period}-cost`), money(figures.cost), figures.cost);
    setText($(`kpi-${period}-calls`), formatInt(figures.calls), figures.calls);
    setText($(`kpi-${period}-tokens`), formatInt(figures.tokens), figures.tokens);
    setText($(`kpi-${period}-success_rate`), formatPercent(figures.success_rate), figures.success_rate);
  }
  const avg = data.selected?.avg_duration_ms;
  setText($("kpi-selected-avg_duration_ms"), formatMs(avg), avg);
}

function costTip(label, row) {
  return [
    label,
    money(row.cost),
    t("tip_calls", { count: row.calls }),
    t("tip_tokens", { value: formatInt(row.total_tokens ?? row.tokens) }),
  ];
}

/** Largest first; past ``limit`` the rest is folded into one "other" entry. */
function topByCost(breakdown, limit) {
  const rows = Object.entries(breakdown ?? {})
    .map(([name, row]) => ({ name, ...row }))
    .sort((a, b) => b.cost - a.cost || b.calls - a.calls || a.name.localeCompare(b.name));
  if (rows.length <= limit) return rows;
  const rest = rows.slice(limit - 1).reduce(
    (sum, row) => ({
      ...sum,
      calls: sum.calls + row.calls,
      total_tokens: sum.total_tokens + row.total_tokens,
      cost: sum.cost + row.cost,
    }),
    { name: t("other"), calls: 0, total_tokens: 0, cost: 0, folded: true },
  );
  return [...rows.slice(0, limit - 1), rest];
}

/** The forecast's days from today (the trend's last day) to month end, as the trend chart's band; none
 * while one service is picked (the forecast is of all of them). */
function forecastBand(trend) {
  const daily = state.service ? [] : (state.forecast?.daily ?? []);
  if (!trend.length || daily[0]?.date !== trend[trend.length - 1].date) return [];
  return daily.map((day) => ({
    label: day.date,
    expected: day.expected,
    low: day.low,
    high: day.high,
    tip: [
      t("forecast_tip", { date: day.date }),
      money(day.expected),
      t("forecast_range", { low: money(day.low), high: money(day.high) }),
    ],
  }));
}

function renderForecastNote(band) {
  const team = band.length ? state.forecast.forecast?.find((row) => row.key === "all") : null;
  const text = team
    ? t("forecast_month", { expected: money(team.expected), low: money(team.low), high: money(team.high) })
    : "";
  setText($("trend-forecast"), text, team ? team.expected : "");
}

function renderCharts(data) {
  const trend = data.cost_trend ?? [];
  const band = forecastBand(trend);
  renderForecastNote(band);
  lineChart(
    $("chart-trend"),
    trend.map((day) => ({
      label: day.date,
      value: day.cost,
      tip: costTip(day.date, day),
    })),
    { format: money, axisLabel: formatShortDate, emptyText: t("no_data"), testid: "trend-point", band },
  );
  const trendTotal = trend.reduce((sum, day) => sum + day.cost, 0);
  setText($("trend-total"), `${t("total")} ${money(trendTotal)}`, trendTotal);

  const models = topByCost(data.selected?.by_model, TOP_SLICES);
  donutChart(
    $("chart-models"),
    models.map((row) => ({
      label: row.folded ? row.name : nameOr(row.name),
      value: row.cost,
      tip: costTip(nameOr(row.name), row),
    })),
    { format: money, centerLabel: t("total"), emptyText: t("no_data"), testid: "model-slice" },
  );

  const functions = topByCost(data.selected?.by_function, TOP_BARS);
  barChart(
    $("chart-functions"),
    functions.map((row) => ({
      label: row.folded ? row.name : nameOr(row.name),
      value: row.cost,
      tip: costTip(nameOr(row.name), row),
    })),
    { format: money, emptyText: t("no_data"), testid: "function-bar" },
  );

  const s = data.selected ?? {};
  const input = s.input_tokens ?? 0;
  const output = s.output_tokens ?? 0;
  const cached = Math.min(s.cached_tokens ?? 0, input);
  const reasoning = Math.min(s.reasoning_tokens ?? 0, output);
  const parts = [
    ["input", input - cached],
    ["cached", cached],
    ["output", output - reasoning],
    ["reasoning", reasoning],
  ].map(([key, value]) => {
    const label = t(`mix_${key}`);
    return { key, label, value, tip: [label, t("tip_tokens", { value: formatInt(value) })] };
  });
  stackedBar($("chart-mix"), parts, {
    format: (v) => formatCompact(v, state.lang),
    emptyText: t("no_data"),
    testid: "mix-segment",
  });
}

function rankingColumns(key, maxCost) {
  return [
    (row) => ({ text: nameOr(row[key]), title: nameOr(row[key]), className: "name" }),
    (row) => ({ text: formatInt(row.calls), value: row.calls, className: "num" }),
    (row) => ({ text: formatInt(row.tokens), value: row.tokens, className: "num" }),
    (row) => ({
      text: money(row.cost),
      value: row.cost,
      className: "num cost",
      bar: maxCost > 0 ? row.cost / maxCost : 0,
    }),
  ];
}

function renderTables(data) {
  const noData = t("no_data");
  for (const [testid, rows, key] of [
    ["table-users", data.top_users, "user_id"],
    ["table-anchors", data.top_anchors, "anchor_id"],
  ]) {
    const list = rows ?? [];
    const maxCost = Math.max(0, ...list.map((row) => row.cost));
    syncRows($(testid), list, rankingColumns(key, maxCost), noData);
  }

  const latency = data.latency_by_model ?? [];
  const slowest = Math.max(0, ...latency.map((row) => row.p95_ms ?? 0));
  syncRows(
    $("table-latency"),
    latency,
    [
      (row) => ({ text: nameOr(row.model), title: nameOr(row.model), className: "name" }),
      (row) => ({ text: formatInt(row.calls), value: row.calls, className: "num" }),
      (row) => ({ text: formatMs(row.avg_ms), value: row.avg_ms, className: "num" }),
      (row) => ({ text: formatMs(row.p50_ms), value: row.p50_ms, className: "num" }),
      (row) => ({
        text: formatMs(row.p95_ms),
        value: row.p95_ms,
        className: "num",
        bar: slowest > 0 ? row.p95_ms / slowest : 0,
      }),
    ],
    noData,
  );

  const zone = data.timezone;
  syncRows(
    $("table-errors"),
    data.recent_errors ?? [],
    [
      (row) => ({ text: formatDateTime(row.timestamp, zone), value: row.timestamp, className: "time" }),
      (row) => ({ text: `${nameOr(row.model)} · ${nameOr(row.provider)}`, className: "name" }),
      (row) => ({ text: nameOr(row.function), title: nameOr(row.function), className: "name" }),
      (row) => ({ text: `${nameOr(row.user_id)} / ${nameOr(row.anchor_id)}`, className: "name" }),
      (row) => {
        const message = [row.error_type, row.error_msg].filter(Boolean).join(": ") || "—";
        return { text: message, title: message, className: "error-msg" };
      },
    ],
    t("no_errors"),
  );
}

function renderUnpriced(data) {
  const models = data.unpriced_models ?? [];
  $("unpriced-banner").hidden = models.length === 0;
  const list = $("unpriced-list");
  const items = models.map((row) =>
    t("unpriced_item", { model: nameOr(row.model), provider: nameOr(row.provider), count: row.calls }),
  );
  const existing = [...list.children];
  items.forEach((text, i) => {
    let li = existing[i];
    if (!li) {
      li = document.createElement("li");
      li.dataset.testid = "unpriced-item";
      list.append(li);
    }
    setText(li, text);
  });
  for (const extra of existing.slice(items.length)) extra.remove();
}

function renderMeta(data) {
  setText(
    $("updated-at"),
    t("updated", { time: formatClock(data.generated_at, data.timezone) }),
    data.generated_at,
  );
  setText($("footer"), t("footer", { currency: data.currency, timezone: data.timezone }));
  const { start, end, key } = data.range ?? {};
  const span =
    start && end ? `${formatDateTime(start, data.timezone)} – ${formatDateTime(end, data.timezone)}` : "";
  const name = RANGES.includes(key) ? t(`range_${key}`) : "";
  for (const node of document.querySelectorAll(".range-note")) {
    setText(node, name);
    if (node.title !== span) node.title = span;
  }
}

function renderDrops(data) {
  const drops = data.records_dropped;
  const node = $("records-dropped");
  node.hidden = !drops?.total;
  if (!drops?.total) return;
  setText(node, t("records_dropped", { count: formatInt(drops.total) }), drops.total);
  const tip = t("records_dropped_tip", {
    time: drops.last_at ? formatDateTime(drops.last_at, data.timezone) : "—",
    error: drops.last_error ?? "—",
    write_failed: formatInt(drops.by_reason?.write_failed ?? 0),
    invalid: formatInt(drops.by_reason?.invalid ?? 0),
  });
  if (node.title !== tip) node.title = tip;
}

function renderAdviceCard() {
  const currency = state.advice?.currency ?? state.data?.currency ?? "CNY";
  const adviceMoney = (value) => formatMoney(value, currency);
  renderAdvice($("table-advice"), state.advice, { t, money: adviceMoney, nameOr });
}

function renderBudgetsCard() {
  const currency = state.budgets?.currency ?? state.data?.currency ?? "CNY";
  const timeZone = state.data?.timezone;
  renderBudgets($("table-budgets"), state.budgets, state.forecast, {
    t,
    money: (value) => formatMoney(value, currency),
    dateTime: (iso) => formatDateTime(Date.parse(iso) / 1000, timeZone),
    card: $("panel-budgets"),
    omittedNode: $("budgets-omitted"),
  });
}

/** The picker's options: all services, then every service seen (and the picked one, seen or not). */
function renderServicePicker(data) {
  const select = $("service-picker");
  const names = [...(data?.services ?? [])];
  if (state.service && !names.includes(state.service)) names.unshift(state.service);
  const options = [...select.options].slice(1);
  names.forEach((name, i) => {
    let option = options[i];
    if (!option) {
      option = document.createElement("option");
      select.append(option);
    }
    if (option.value !== name) option.value = name;
    setText(option, name);
  });
  for (const extra of options.slice(names.length)) extra.remove();
  if (select.value !== state.service) select.value = state.service;
  for (const note of document.querySelectorAll(".all-services-note")) note.hidden = !state.service;
}

function renderRangePicker() {
  for (const button of document.querySelectorAll("[data-range]")) {
    const active = button.dataset.range === state.range;
    button.classList.toggle("active", active);
    button.setAttribute("aria-pressed", String(active));
  }
}

function render() {
  const data = state.data;
  if (!data) return;
  renderMeta(data);
  renderServicePicker(data);
  renderDrops(data);
  renderUnpriced(data);
  renderKpis(data);
  renderCharts(data);
  renderTables(data);
  renderAdviceCard();
  renderBudgetsCard();
  document.body.dataset.ready = "true";
}

// ---------------------------------------------------------------- wiring

function setLanguage(lang) {
  state.lang = lang;
  localStorage.setItem(STORE.lang, lang);
  applyLanguage();
  render();
}

function setRange(range) {
  if (!RANGES.includes(range) || range === state.range) return;
  state.range = range;
  sessionStorage.setItem(STORE.range, range);
  renderRangePicker();
  refresh();
}

function setService(service) {
  if (service === state.service) return;
  state.service = service;
  const url = new URL(window.location.href);
  if (service) url.searchParams.set("service", service);
  else url.searchParams.delete("service");
  history.replaceState(history.state, "", url);
  renderServicePicker(state.data);
  refresh();
}

/** Ask for the token before the first data request when the server says it needs one. */
async function checkConfig() {
  try {
    const config = await getJson("config");
    if (config.auth_required && !sessionStorage.getItem(STORE.token)) askForToken();
  } catch (error) {
    if (error instanceof AuthRequired) askForToken();
    // Otherwise the dashboard request below reports the problem.
  }
}

async function start() {
  buildKpiCards();
  applyLanguage();
  renderRangePicker();
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => setRange(button.dataset.range));
  }
  renderServicePicker(null);
  const picker = $("service-picker");
  picker.addEventListener("change", () => setService(picker.value));
  $("lang-switch").addEventListener("click", () => setLanguage(state.lang === "zh" ? "en" : "zh"));
  $("token-form").addEventListener("submit", onTokenSubmit);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
  await checkConfig();
  refresh();
  refreshAdvice();
}

start();
