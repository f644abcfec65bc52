// Consumer groups: list; one group's members, subscriptions, lag per queue
// (table and live chart) and offset reset to a time with a preview.
import { get, post, enc, APIError } from './api.js';
import { el, table, form, input, link, when, showError } from './ui.js';
import { LiveChart } from './chart.js';

export async function render(main, r, ctx) {
  if (r.arg) return renderGroup(main, r.arg, ctx);
  const res = await get('/groups');
  main.replaceChildren(el('h1', {}, 'Consumer groups'), table([
    { h: 'group', v: (g) => link(`#/groups/${enc(g.group)}`, g.group) },
    { h: 'broker', v: (g) => g.brokerAddr },
    { h: 'online', v: (g) => (g.online ? 'yes' : 'no') },
    { h: 'topics', v: (g) => g.topics.join(', ') },
    { h: 'dead letters', v: (g) => link(`#/dlq/${enc(g.group)}`, 'browse') },
  ], res.items || [], { id: 'group-table' }));
}

const queueName = (q) => `${q.topic} ${q.brokerName}/${q.queueId}`;

async function renderGroup(main, group, ctx) {
  const progressBox = el('div', { id: 'progress' });
  const chartBox = el('div', { class: 'chart', id: 'lag-chart' });
  const members = el('div', { id: 'members' });
  const preview = el('div', { id: 'reset-preview' });
  let chart;
  let topics = [];
  const resetForm = form([
    el('label', {}, 'topic', el('select', { name: 'topic', id: 'reset-topic' })),
    input('timestamp', 'to time (RFC 3339, -1h, earliest, latest)', { value: '-1h', id: 'reset-time', required: true }),
  ], 'Preview', async (v) => showPreview(group, v, preview), { id: 'reset-form' });
  main.replaceChildren(
    el('h1', {}, `Group ${group}`),
    el('p', {}, link(`#/dlq/${enc(group)}`, 'dead letters')),
    el('h2', {}, 'Lag'), chartBox, progressBox,
    el('h2', {}, 'Members'), members,
    el('h2', {}, 'Reset offsets'), resetForm, preview,
  );
  ctx.every(2000, async () => {
    let p;
    try { p = await get(`/groups/${enc(group)}`); } catch (e) {
      if (e instanceof APIError && e.status === 404) { progressBox.replaceChildren(el('p', { class: 'muted' }, 'no offsets yet')); return; }
      throw e;
    }
    const shown = p.queues.slice(0, 8);
    if (!chart && ctx.alive) chart = ctx.chart(new LiveChart(chartBox, 'lag (messages)', ['total', ...shown.map(queueName)]));
    chart.push(Date.now() / 1000, [p.totalLag, ...shown.map((q) => q.lag)]);
    progressBox.replaceChildren(table([
      { h: 'topic', v: (q) => q.topic },
      { h: 'broker', v: (q) => q.brokerName },
      { h: 'queue', num: true, v: (q) => q.queueId },
      { h: 'broker offset', num: true, v: (q) => q.brokerOffset },
      { h: 'committed', num: true, v: (q) => q.consumerOffset },
      { h: 'lag', num: true, v: (q) => q.lag },
      { h: 'last consumed', v: (q) => when(q.lastTimestamp) },
    ], p.queues, { id: 'progress-table' }), el('p', {}, `total lag ${p.totalLag.toLocaleString('en')}`));
    const names = [...new Set(p.queues.map((q) => q.topic))];
    if (names.join() !== topics.join()) {
      topics = names;
      document.getElementById('reset-topic').replaceChildren(...names.map((t) => el('option', { value: t }, t)));
    }
  });
  get(`/groups/${enc(group)}/connections`).then((c) => {
    const rows = [];
    for (const [broker, cc] of Object.entries(c.items || {})) {
      for (const conn of cc.connectionSet || []) rows.push({ broker, ...conn, model: cc.messageModel, subs: Object.values(cc.subscriptionTable || {}) });
    }
    members.replaceChildren(table([
      { h: 'client', v: (m) => m.clientId },
      { h: 'address', v: (m) => m.clientAddr },
      { h: 'model', v: (m) => m.model },
      { h: 'subscriptions', v: (m) => m.subs.map((s) => `${s.topic}: ${s.subString}`).join('; ') },
    ], rows, { empty: 'no member online' }));
  }).catch(() => members.replaceChildren(el('p', { class: 'muted' }, 'no member online')));
}

async function showPreview(group, v, box) {
  const body = { topic: v.topic, timestamp: v.timestamp };
  const res = await post(`/groups/${enc(group)}/reset`, { ...body, preview: true });
  const moves = res.items || [];
  const apply = el('button', { id: 'reset-apply', class: 'danger', type: 'button', onclick: async () => {
    try {
      const done = await post(`/groups/${enc(group)}/reset`, body);
      box.replaceChildren(el('p', { class: 'ok', id: 'reset-done' }, `reset ${(done.items || []).length} queues`));
    } catch (e) { showError(e); }
  } }, 'Reset these offsets');
  box.replaceChildren(table([
    { h: 'broker', v: (m) => m.brokerName },
    { h: 'queue', num: true, v: (m) => m.queueId },
    { h: 'committed now', num: true, v: (m) => (m.current < 0 ? 'none' : m.current) },
    { h: 'after reset', num: true, v: (m) => m.target },
    { h: 'moves', num: true, v: (m) => (m.delta > 0 ? `+${m.delta}` : m.delta) },
  ], moves, { id: 'preview-table' }), el('div', { class: 'row' }, apply));
}
