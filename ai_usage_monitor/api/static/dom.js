// DOM helpers that update the page in place: text only (never HTML), existing nodes reused.

/** Set ``node``'s text (and, optionally, its raw value for tests and tools) only when it changed. */
export function setText(node, text, rawValue) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
  if (rawValue !== undefined) {
    const raw = String(rawValue);
    if (node.dataset.value !== raw) node.dataset.value = raw;
  }
}

/**
 * Make ``tbody`` show one row per item, reusing the rows already there.
 * columns: [(item) => ({text, value?, className?, title?, bar?})] where ``bar`` is a 0–1 share drawn
 * under the text; emptyText: a single full-width row when there are no items.
 */
export function syncRows(tbody, items, columns, emptyText) {
  const wantEmpty = items.length === 0;
  const rows = [...tbody.rows];
  if (wantEmpty) {
    const row = rows.length === 1 && rows[0].classList.contains("empty-row") ? rows[0] : null;
    if (row) {
      setText(row.cells[0], emptyText);
      return;
    }
    const tr = document.createElement("tr");
    tr.className = "empty-row";
    const td = document.createElement("td");
    td.colSpan = columns.length;
    td.textContent = emptyText;
    tr.append(td);
    tbody.replaceChildren(tr);
    return;
  }
  if (rows.length && rows[0].classList.contains("empty-row")) {
    rows[0].remove();
    rows.shift();
  }
  items.forEach((item, index) => {
    let tr = rows[index];
    if (!tr) {
      tr = document.createElement("tr");
      for (let i = 0; i < columns.length; i += 1) tr.append(document.createElement("td"));
      tbody.append(tr);
    }
    columns.forEach((column, i) => fillCell(tr.cells[i], column(item)));
  });
  for (const extra of rows.slice(items.length)) extra.remove();
}

function fillCell(td, spec) {
  if (spec.className !== undefined && td.className !== spec.className) td.className = spec.className;
  if (spec.testid !== undefined && td.dataset.testid !== spec.testid) td.dataset.testid = spec.testid;
  if (spec.title !== undefined && td.title !== spec.title) td.title = spec.title;
  if (spec.bar === undefined) {
    setText(td, spec.text, spec.value);
    return;
  }
  // Text plus a thin bar for the share: <td><span class="cell-text"/><span class="cell-bar"><i/></span></td>
  let text = td.querySelector(".cell-text");
  let fill = td.querySelector(".cell-bar > i");
  if (!text || !fill) {
    text = document.createElement("span");
    text.className = "cell-text";
    const bar = document.createElement("span");
    bar.className = "cell-bar";
    fill = document.createElement("i");
    bar.append(fill);
    td.replaceChildren(text, bar);
  }
  setText(text, spec.text);
  if (spec.value !== undefined) td.dataset.value = String(spec.value);
  const width = `${Math.max(0, Math.min(1, spec.bar)) * 100}%`;
  if (fill.style.width !== width) fill.style.width = width;
}
