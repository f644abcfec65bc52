// Small DOM helpers: every value reaches the page as text, never as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// table builds a table from column specs {h, v(row), num}.
export function table(cols, rows, opts = {}) {
  const head = el('tr', {}, cols.map((c) => el('th', { class: c.num ? 'num' : '' }, c.h)));
  const body = rows.map((r) => el('tr', {}, cols.map((c) => {
    const v = c.v(r);
    return el('td', { class: c.num ? 'num' : '' }, v instanceof Node ? v : fmt(v));
  })));
  if (rows.length === 0) body.push(el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, opts.empty || 'none')));
  return el('div', { class: 'scroll' }, el('table', { id: opts.id }, el('thead', {}, head), el('tbody', {}, body)));
}

export function fmt(v) {
  if (typeof v === 'number') return v.toLocaleString('en');
  if (v === undefined || v === null || v === '') return '–';
  return String(v);
}

export function card(k, v, id) {
  return el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v', id }, fmt(v)));
}

export function link(href, text) { return el('a', { href }, text); }

export function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

// duration formats seconds as "3d 4h", "2h 5m", "4m 10s" or "9s".
export function duration(s) {
  if (!(s >= 0)) return '–';
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function when(ms) { return ms > 0 ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '–'; }

let errorTimer;
export function showError(err) {
  const box = document.getElementById('error');
  box.textContent = String(err && err.message ? err.message : err);
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

// form builds a form whose submit handler gets the named values.
export function form(fields, submitText, onsubmit, attrs = {}) {
  const f = el('form', attrs, fields, el('button', { type: 'submit' }, submitText));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(f).entries());
    try { await onsubmit(values, f); } catch (e) { showError(e); }
  });
  return f;
}

export function input(name, label, attrs = {}) {
  return el('label', {}, label, el('input', { name, id: attrs.id || `in-${name}`, ...attrs }));
}
