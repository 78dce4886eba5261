// Small SVG charts written for this dashboard (no third-party library, nothing fetched from a CDN).
// Every label goes in as a text node. A chart redraws only when its data, size or words change, and
// swaps the whole drawing in one step, so periodic refreshes never blank it.

const SVG_NS = "http://www.w3.org/2000/svg";
export const PALETTE = [
  "#4263eb",
  "#f08c00",
  "#0ca678",
  "#e8590c",
  "#7048e8",
  "#1098ad",
  "#d6336c",
  "#868e96",
];

const lastDrawn = new WeakMap();
let gradientCount = 0;
let tooltip = null;

function svg(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

function html(name, className = "", text = null) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== null) node.textContent = String(text);
  return node;
}

/** True when ``container`` already shows exactly this drawing; otherwise remembers it as drawn. */
function unchanged(container, data) {
  const key = JSON.stringify([container.clientWidth, data]);
  if (lastDrawn.get(container) === key) return true;
  lastDrawn.set(container, key);
  return false;
}

function showEmpty(container, text) {
  container.replaceChildren(html("div", "chart-empty", text));
}

function tip() {
  if (!tooltip) {
    tooltip = html("div", "chart-tip");
    tooltip.setAttribute("role", "tooltip");
    tooltip.hidden = true;
    document.body.append(tooltip);
  }
  return tooltip;
}

function showTip(event, lines) {
  const box = tip();
  box.replaceChildren(...lines.map((line, i) => html("div", i === 0 ? "chart-tip-title" : "", line)));
  box.hidden = false;
  const pad = 14;
  const { innerWidth, innerHeight } = window;
  const rect = box.getBoundingClientRect();
  let left = event.clientX + pad;
  let top = event.clientY + pad;
  if (left + rect.width > innerWidth - 4) left = event.clientX - rect.width - pad;
  if (top + rect.height > innerHeight - 4) top = event.clientY - rect.height - pad;
  box.style.left = `${Math.max(4, left)}px`;
  box.style.top = `${Math.max(4, top)}px`;
}

function hideTip() {
  if (tooltip) tooltip.hidden = true;
}

function hoverTip(node, lines) {
  node.addEventListener("mousemove", (event) => showTip(event, lines));
  node.addEventListener("mouseleave", hideTip);
}

/** Round axis steps (1, 2, 2.5, 5 × 10^k) covering 0…max in about ``count`` steps. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const ticks = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** Cut ``node``'s text with an ellipsis until it is at most ``maxWidth`` pixels wide. */
function fitText(node, maxWidth) {
  const full = node.textContent;
  if (node.getComputedTextLength() <= maxWidth) return;
  let keep = full.length;
  while (keep > 1 && node.getComputedTextLength() > maxWidth) {
    keep -= 1;
    node.textContent = `${full.slice(0, keep)}…`;
  }
}

/**
 * Area + line chart over evenly spaced points.
 * points: [{label, value, tip: [lines]}]; opts: {format, axisLabel(label), height, emptyText, testid, band}
 * band (optional): [{label, expected, low, high, tip}] from the last point on (its first entry is that day):
 * drawn after the points as a dashed expected line over a shaded low–high area.
 */
export function lineChart(container, points, opts) {
  const band = points.length ? (opts.band ?? []) : [];
  if (unchanged(container, [points, opts.emptyText, band])) return;
  if (!points.length) return showEmpty(container, opts.emptyText);
  const width = Math.max(container.clientWidth, 320);
  const height = opts.height ?? 220;
  const slots = points.length + Math.max(band.length - 1, 0);
  const ticks = niceTicks(Math.max(...points.map((p) => p.value), ...band.map((b) => b.high)));
  const top = ticks[ticks.length - 1];
  const tickLabels = ticks.map((t) => opts.format(t));
  const left = 12 + 7 * Math.max(...tickLabels.map((t) => t.length));
  const margin = { left, right: 16, top: 14, bottom: 28 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const x = (i) => margin.left + (slots === 1 ? plotW / 2 : (i * plotW) / (slots - 1));
  const y = (v) => margin.top + plotH - (v / top) * plotH;

  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart line-chart" });
  const gradientId = `area-gradient-${++gradientCount}`;
  const defs = svg("defs");
  const gradient = svg("linearGradient", { id: gradientId, x1: 0, y1: 0, x2: 0, y2: 1 });
  gradient.append(
    svg("stop", { offset: "0%", "stop-color": PALETTE[0], "stop-opacity": 0.28 }),
    svg("stop", { offset: "100%", "stop-color": PALETTE[0], "stop-opacity": 0.02 }),
  );
  defs.append(gradient);
  root.append(defs);

  ticks.forEach((t, i) => {
    root.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y(t), y2: y(t), class: "grid-line" }),
      svg(
        "text",
        { x: margin.left - 8, y: y(t) + 4, "text-anchor": "end", class: "axis-label" },
        tickLabels[i],
      ),
    );
  });
  const every = Math.max(1, Math.ceil(slots / Math.max(1, Math.floor(plotW / 64))));
  const labels = [...points.map((p) => p.label), ...band.slice(1).map((b) => b.label)];
  labels.forEach((text, i) => {
    if ((points.length - 1 - i) % every === 0) {
      const label = opts.axisLabel ? opts.axisLabel(text) : text;
      root.append(
        svg("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "axis-label" }, label),
      );
    }
  });

  const coords = points.map((p, i) => [x(i), y(p.value)]);
  const linePath = coords.map(([cx, cy], i) => `${i ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)}`).join("");
  const base = y(0).toFixed(1);
  root.append(
    svg("path", {
      d: `${linePath}L${coords[coords.length - 1][0].toFixed(1)},${base}L${coords[0][0].toFixed(1)},${base}Z`,
      fill: `url(#${gradientId})`,
    }),
    svg("path", { d: linePath, class: "line", stroke: PALETTE[0] }),
  );

  if (band.length) drawBand(root, band, (j) => x(points.length - 1 + j), y);

  const guide = svg("line", { y1: margin.top, y2: margin.top + plotH, class: "guide", visibility: "hidden" });
  root.append(guide);
  const slot = slots > 1 ? plotW / (slots - 1) : plotW;
  points.forEach((p, i) => {
    const [cx, cy] = coords[i];
    const dot = svg("circle", {
      cx,
      cy,
      r: i === points.length - 1 ? 3.5 : 2.5,
      class: "dot",
      stroke: PALETTE[0],
      "data-testid": opts.testid ?? "line-point",
      "data-label": p.label,
      "data-value": p.value,
      "aria-label": p.tip.join(", "),
    });
    const hit = svg("rect", { x: cx - slot / 2, y: margin.top, width: slot, height: plotH, class: "hit" });
    hit.addEventListener("mouseenter", () => {
      guide.setAttribute("x1", cx);
      guide.setAttribute("x2", cx);
      guide.setAttribute("visibility", "visible");
      dot.classList.add("active");
    });
    hit.addEventListener("mouseleave", () => {
      guide.setAttribute("visibility", "hidden");
      dot.classList.remove("active");
    });
    hoverTip(hit, p.tip);
    root.append(dot, hit);
  });
  container.replaceChildren(root);
}

/** The forecast band of ``lineChart``: shaded low–high, dashed expected line, one marker per day. */
function drawBand(root, band, bx, y) {
  const path = (values) => values.map((v, j) => `${j ? "L" : "M"}${bx(j).toFixed(1)},${y(v).toFixed(1)}`);
  const highs = path(band.map((b) => b.high));
  const lows = path(band.map((b) => b.low)).reverse().map((step) => `L${step.slice(1)}`);
  root.append(
    svg("path", { d: `${highs.join("")}${lows.join("")}Z`, class: "forecast-band", fill: PALETTE[0] }),
    svg("path", {
      d: path(band.map((b) => b.expected)).join(""),
      class: "line forecast-line",
      stroke: PALETTE[0],
    }),
  );
  band.forEach((b, j) => {
    const mark = svg("circle", {
      cx: bx(j),
      cy: y(b.expected),
      r: 2,
      class: "forecast-dot",
      fill: PALETTE[0],
      "data-testid": "forecast-point",
      "data-label": b.label,
      "data-expected": b.expected,
      "data-low": b.low,
      "data-high": b.high,
      "aria-label": b.tip.join(", "),
    });
    hoverTip(mark, b.tip);
    root.append(mark);
  });
}

function arcPath(cx, cy, outer, inner, start, end) {
  const point = (r, a) => [cx + r * Math.sin(a), cy - r * Math.cos(a)];
  const large = end - start > Math.PI ? 1 : 0;
  const [x1, y1] = point(outer, start);
  const [x2, y2] = point(outer, end);
  const [x3, y3] = point(inner, end);
  const [x4, y4] = point(inner, start);
  return (
    `M${x1},${y1}A${outer},${outer} 0 ${large} 1 ${x2},${y2}` +
    `L${x3},${y3}A${inner},${inner} 0 ${large} 0 ${x4},${y4}Z`
  );
}

/** Legend rows (HTML) shared by the donut and the stacked bar. items: [{label, value, valueText, color}] */
function legend(items, testid) {
  const list = html("ul", "legend");
  for (const item of items) {
    const row = html("li", "legend-item");
    row.dataset.testid = testid;
    row.dataset.label = item.label;
    row.dataset.value = String(item.value);
    const swatch = html("span", "swatch");
    swatch.style.background = item.color;
    const share = html("span", "legend-share", item.shareText);
    row.append(
      swatch,
      html("span", "legend-label", item.label),
      html("span", "legend-value", item.valueText),
      share,
    );
    row.title = item.label;
    list.append(row);
  }
  return list;
}

function shareText(value, total) {
  return total > 0 ? `${((value / total) * 100).toFixed(1)}%` : "—";
}

/**
 * Donut with the total in the middle and a legend beside it.
 * slices: [{label, value, tip: [lines]}] (largest first); opts: {format, centerLabel, emptyText, testid}
 */
export function donutChart(container, slices, opts) {
  if (unchanged(container, [slices, opts.centerLabel, opts.emptyText])) return;
  if (!slices.length) return showEmpty(container, opts.emptyText);
  const total = slices.reduce((sum, s) => sum + s.value, 0);
  const size = 200;
  const c = size / 2;
  const outer = c - 4;
  const inner = outer * 0.64;
  const root = svg("svg", {
    viewBox: `0 0 ${size} ${size}`,
    width: size,
    height: size,
    class: "chart donut",
  });
  const items = slices.map((s, i) => ({
    ...s,
    color: PALETTE[i % PALETTE.length],
    valueText: opts.format(s.value),
    shareText: shareText(s.value, total),
  }));
  if (total <= 0) {
    root.append(
      svg("circle", {
        cx: c,
        cy: c,
        r: (outer + inner) / 2,
        class: "donut-empty",
        "stroke-width": outer - inner,
      }),
    );
  } else {
    let angle = 0;
    for (const item of items) {
      const sweep = (item.value / total) * 2 * Math.PI;
      if (sweep <= 0) continue;
      // A full circle cannot be one arc: draw it as two halves.
      const parts =
        sweep >= 2 * Math.PI - 1e-9
          ? [
              [0, Math.PI],
              [Math.PI, 2 * Math.PI],
            ]
          : [[angle, angle + sweep]];
      const group = svg("g", {
        class: "slice",
        "data-testid": opts.testid ?? "slice",
        "data-label": item.label,
        "data-value": item.value,
        "aria-label": item.tip.join(", "),
      });
      for (const [a, b] of parts)
        group.append(svg("path", { d: arcPath(c, c, outer, inner, a, b), fill: item.color }));
      hoverTip(group, item.tip);
      root.append(group);
      angle += sweep;
    }
  }
  root.append(
    svg("text", { x: c, y: c - 2, "text-anchor": "middle", class: "donut-total" }, opts.format(total)),
    svg("text", { x: c, y: c + 22, "text-anchor": "middle", class: "donut-caption" }, opts.centerLabel),
  );
  const wrap = html("div", "donut-wrap");
  wrap.append(root, legend(items, `${opts.testid ?? "slice"}-legend`));
  container.replaceChildren(wrap);
}

/**
 * Horizontal bars, one row per item, label on the left and value at the bar's end.
 * bars: [{label, value, tip: [lines]}] (largest first); opts: {format, emptyText, testid}
 */
export function barChart(container, bars, opts) {
  if (unchanged(container, [bars, opts.emptyText])) return;
  if (!bars.length) return showEmpty(container, opts.emptyText);
  const width = Math.max(container.clientWidth, 280);
  const rowH = 30;
  const labelW = Math.min(190, Math.round(width * 0.36));
  const valueW = 84;
  const barX = labelW + 12;
  const barMax = Math.max(10, width - barX - valueW);
  const height = bars.length * rowH + 4;
  const max = Math.max(...bars.map((b) => b.value));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart bars" });
  const labels = [];
  bars.forEach((bar, i) => {
    const yMid = i * rowH + rowH / 2 + 2;
    const length = max > 0 ? Math.max(2, (bar.value / max) * barMax) : 2;
    const row = svg("g", {
      class: "bar-row",
      "data-testid": opts.testid ?? "bar",
      "data-label": bar.label,
      "data-value": bar.value,
      "aria-label": bar.tip.join(", "),
    });
    const label = svg(
      "text",
      { x: labelW, y: yMid + 4, "text-anchor": "end", class: "bar-label" },
      bar.label,
    );
    labels.push(label);
    row.append(
      svg("rect", { x: 0, y: yMid - rowH / 2, width, height: rowH, class: "hit" }),
      label,
      svg("rect", { x: barX, y: yMid - 9, width: barMax, height: 18, rx: 4, class: "bar-track" }),
      svg("rect", {
        x: barX,
        y: yMid - 9,
        width: length,
        height: 18,
        rx: 4,
        fill: PALETTE[i % PALETTE.length],
      }),
      svg("text", { x: barX + length + 6, y: yMid + 4, class: "bar-value" }, opts.format(bar.value)),
    );
    hoverTip(row, bar.tip);
    root.append(row);
  });
  container.replaceChildren(root);
  for (const label of labels) fitText(label, labelW - 4);
}

/**
 * One stacked horizontal bar with a legend under it (parts of a whole, e.g. the token mix).
 * parts: [{key, label, value, tip: [lines]}]; opts: {format, emptyText, testid}
 */
export function stackedBar(container, parts, opts) {
  if (unchanged(container, [parts, opts.emptyText])) return;
  const total = parts.reduce((sum, p) => sum + p.value, 0);
  if (!(total > 0)) return showEmpty(container, opts.emptyText);
  const width = Math.max(container.clientWidth, 280);
  const height = 28;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart stack" });
  const clipId = `stack-clip-${++gradientCount}`;
  const defs = svg("defs");
  const clip = svg("clipPath", { id: clipId });
  clip.append(svg("rect", { x: 0, y: 0, width, height, rx: 6 }));
  defs.append(clip);
  const group = svg("g", { "clip-path": `url(#${clipId})` });
  group.append(svg("rect", { x: 0, y: 0, width, height, class: "bar-track" }));
  const items = parts.map((p, i) => ({
    ...p,
    color: PALETTE[i % PALETTE.length],
    valueText: opts.format(p.value),
    shareText: shareText(p.value, total),
  }));
  let x = 0;
  for (const item of items) {
    const w = (item.value / total) * width;
    const segment = svg("rect", {
      x,
      y: 0,
      width: Math.max(0, w),
      height,
      fill: item.color,
      "data-testid": opts.testid ?? "segment",
      "data-key": item.key,
      "data-value": item.value,
      "aria-label": item.tip.join(", "),
    });
    hoverTip(segment, item.tip);
    group.append(segment);
    x += w;
  }
  root.append(defs, group);
  container.replaceChildren(root, legend(items, `${opts.testid ?? "segment"}-legend`));
}
