// Messages: search by id, key or time range; one message's properties,
// body (text, pretty JSON, or hex for binary) and trace.
import { get, enc } from './api.js';
import { el, table, form, input, link, when } from './ui.js';

export async function render(main, r) {
  if (r.name === 'message') return renderMessage(main, r.arg, r.query.get('topic') || '');
  const q = r.query;
  const results = el('div', { id: 'results' });
  const search = form([
    input('topic', 'topic', { value: q.get('topic') || '', id: 'search-topic' }),
    input('id', 'message id', { value: q.get('id') || '', id: 'search-id' }),
    input('key', 'key', { value: q.get('key') || '', id: 'search-key' }),
    input('begin', 'from (RFC 3339, -1h)', { value: q.get('begin') || '-1h', id: 'search-begin' }),
    input('end', 'to', { value: q.get('end') || 'now', id: 'search-end' }),
  ], 'Search', async (v) => {
    const params = new URLSearchParams(Object.entries(v).filter(([, x]) => x));
    const next = `#/messages?${params}`;
    if (location.hash !== next) { location.hash = next; return; }
    await runSearch(v, results);
  }, { id: 'search-form' });
  main.replaceChildren(el('h1', {}, 'Messages'), search, results);
  if (q.get('id') || q.get('topic')) await runSearch(Object.fromEntries(q.entries()), results);
}

async function runSearch(v, box) {
  let res;
  if (v.id) {
    res = await get(`/messages/${enc(v.id)}${v.topic ? `?topic=${enc(v.topic)}` : ''}`);
  } else if (v.topic) {
    const p = new URLSearchParams({ begin: v.begin || '-1h', end: v.end || 'now', max: '100' });
    if (v.key) p.set('key', v.key);
    res = await get(`/topics/${enc(v.topic)}/messages?${p}`);
  } else {
    box.replaceChildren(el('p', { class: 'muted' }, 'give a message id, or a topic (with a key or a time range)'));
    return;
  }
  const msgs = res.items || [];
  box.replaceChildren(el('p', { class: 'muted' }, `${msgs.length} found`), table([
    { h: 'message id', v: (m) => link(`#/message/${enc(m.offsetMsgId)}?topic=${enc(m.topic)}`, m.msgId) },
    { h: 'topic', v: (m) => m.topic },
    { h: 'queue', num: true, v: (m) => m.queueId },
    { h: 'offset', num: true, v: (m) => m.queueOffset },
    { h: 'stored', v: (m) => m.storeTime },
    { h: 'tags', v: (m) => m.tags },
    { h: 'keys', v: (m) => m.keys },
    { h: 'body', v: (m) => (m.bodyEncoding === 'utf8' ? m.body.slice(0, 60) : `${m.bodySize} bytes binary`) },
  ], msgs, { id: 'result-table' }));
}

// bodyView shows JSON pretty printed, other text as is, binary as hex.
export function bodyView(m) {
  if (m.bodyEncoding === 'base64') {
    const raw = atob(m.body);
    const lines = [];
    for (let i = 0; i < raw.length && i < 4096; i += 16) {
      const chunk = [...raw.slice(i, i + 16)].map((c) => c.charCodeAt(0));
      lines.push(`${i.toString(16).padStart(8, '0')}  ${chunk.map((b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(48)}  ${chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('')}`);
    }
    return el('pre', { id: 'body', 'data-kind': 'hex' }, lines.join('\n'));
  }
  try {
    const parsed = JSON.parse(m.body);
    if (parsed !== null && typeof parsed === 'object') return el('pre', { id: 'body', 'data-kind': 'json' }, JSON.stringify(parsed, null, 2));
  } catch { /* not JSON */ }
  return el('pre', { id: 'body', 'data-kind': 'text' }, m.body);
}

async function renderMessage(main, id, topic) {
  const res = await get(`/messages/${enc(id)}${topic ? `?topic=${enc(topic)}` : ''}`);
  const m = res.items[0];
  const fields = [['message id', m.msgId], ['offset id', m.offsetMsgId], ['topic', m.topic], ['queue', m.queueId],
    ['queue offset', m.queueOffset], ['commit-log offset', m.commitLogOffset], ['tags', m.tags], ['keys', m.keys],
    ['born', `${m.bornTime} from ${m.bornHost}`], ['stored', `${m.storeTime} at ${m.storeHost}`],
    ['reconsume times', m.reconsumeTimes], ['body size', m.bodySize]];
  const traceBox = el('div', { id: 'trace' }, el('p', { class: 'muted' }, 'loading trace…'));
  main.replaceChildren(
    el('h1', {}, `Message ${m.msgId}`),
    table([{ h: 'field', v: (f) => f[0] }, { h: 'value', v: (f) => f[1] }], fields, { id: 'message-fields' }),
    el('h2', {}, 'Properties'),
    table([{ h: 'name', v: (p) => p[0] }, { h: 'value', v: (p) => p[1] }], Object.entries(m.properties).sort(), { id: 'message-props' }),
    el('h2', {}, 'Body'), bodyView(m),
    el('h2', {}, 'Trace'), traceBox,
  );
  try {
    const t = await get(`/messages/${enc(m.offsetMsgId)}/trace?topic=${enc(m.topic)}`);
    traceBox.replaceChildren(traceView(t, m));
  } catch (e) {
    traceBox.replaceChildren(el('p', { class: 'muted' }, `no trace: ${e.message}`));
  }
}

function traceView(t, m) {
  const items = [];
  for (const p of t.produced) {
    items.push([p.timestamp, `produced by ${p.group || '?'} on ${p.clientHost || '?'} in ${p.costMs} ms${p.success ? '' : ' (failed)'}`]);
  }
  items.push([m.storeTimestamp, `stored on ${m.brokerName || m.storeHost} queue ${m.queueId} offset ${m.queueOffset}`]);
  for (const c of t.consumed) {
    items.push([c.startedAt, `consumed by ${c.group} on ${c.clientHost || '?'}: ${c.result} in ${c.costMs} ms (attempt ${c.retryTimes + 1})`]);
  }
  for (const b of t.broker) {
    const what = b.topic.startsWith('%DLQ%') ? 'moved to dead letters' : 'retry scheduled';
    items.push([b.storeTimestamp, `${what}: ${b.topic} (reconsume ${b.reconsumeTimes})`]);
  }
  items.sort((a, b) => (a[0] || 0) - (b[0] || 0));
  return el('ol', { class: 'timeline', id: 'trace-timeline' }, items.map(([ts, text]) => el('li', {}, el('span', { class: 'muted' }, `${when(ts)} `), text)));
}
