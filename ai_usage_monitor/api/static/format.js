// Display formatting for the dashboard: the API sends unrounded numbers, only the page rounds.

const CURRENCY_SYMBOLS = { CNY: "¥", USD: "$" };
const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const twoDecimals = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const threeSignificant = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3, useGrouping: false });
const percent = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

/** Money with its symbol: ¥1,234.50, ¥0.50, ¥0.0123, and tiny costs such as ¥0.00002 stay visible. */
export function formatMoney(value, currency = "CNY") {
  if (!isNumber(value)) return "—";
  const symbol = CURRENCY_SYMBOLS[currency];
  const abs = Math.abs(value);
  let body;
  if (abs >= 1) {
    body = twoDecimals.format(abs);
  } else {
    body = threeSignificant.format(abs);
    const decimals = body.includes(".") ? body.length - body.indexOf(".") - 1 : 0;
    if (decimals < 2) body = abs === 0 ? "0.00" : Number(body).toFixed(2);
  }
  const sign = value < 0 && body !== "0.00" ? "-" : "";
  return symbol ? `${sign}${symbol}${body}` : `${sign}${body} ${currency}`;
}

/** Whole numbers with thousands separators; unknown is an em dash. */
export function formatInt(value) {
  return isNumber(value) ? grouped.format(Math.round(value)) : "—";
}

/** Large counts in the reader's language: 12.3K / 1.2M, or 1.2万 in Chinese. */
export function formatCompact(value, lang = "en") {
  if (!isNumber(value)) return "—";
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-US", {
    notation: "compact",
    maximumFractionDigits: 1,
  }).format(value);
}

/** A percentage that is already ×100: 66.67%, 100%. */
export function formatPercent(value) {
  return isNumber(value) ? `${percent.format(value)}%` : "—";
}

/** Durations: 85 ms, 1.24 s. */
export function formatMs(value) {
  if (!isNumber(value)) return "—";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

const dateTimeFormats = new Map();

function dateTimeFormat(timeZone) {
  let fmt = dateTimeFormats.get(timeZone);
  if (!fmt) {
    // Swedish writes dates as ISO 8601 ("2025-10-26 14:30:22"), which reads the same in both languages.
    const options = {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
    };
    try {
      fmt = new Intl.DateTimeFormat("sv-SE", { ...options, timeZone });
    } catch {
      fmt = new Intl.DateTimeFormat("sv-SE", options);
    }
    dateTimeFormats.set(timeZone, fmt);
  }
  return fmt;
}

/** Unix seconds as "YYYY-MM-DD HH:MM:SS" in the monitor's time zone. */
export function formatDateTime(unixSeconds, timeZone) {
  if (!isNumber(unixSeconds)) return "—";
  return dateTimeFormat(timeZone).format(new Date(unixSeconds * 1000));
}

/** Unix seconds as "HH:MM:SS" in the monitor's time zone. */
export function formatClock(unixSeconds, timeZone) {
  const full = formatDateTime(unixSeconds, timeZone);
  return full.length > 8 ? full.slice(-8) : full;
}

/** "2025-10-26" as "10-26" for axis labels. */
export function formatShortDate(isoDate) {
  return typeof isoDate === "string" && isoDate.length >= 10 ? isoDate.slice(5, 10) : String(isoDate ?? "");
}
