// Topics: list, create, update, delete (confirmed by typing the name),
// queues with min/max offsets, routes.
import { get, api, post, enc } from './api.js';
import { el, table, form, input, link, when, showError } from './ui.js';

export async function render(main, r) {
  if (r.arg) return renderTopic(main, r.arg);
  const res = await get('/topics');
  const rows = res.items || [];
  const filter = el('input', { id: 'topic-filter', placeholder: 'filter', 'aria-label': 'filter topics' });
  const list = el('div');
  const draw = () => {
    const f = filter.value.toLowerCase();
    list.replaceChildren(table([
      { h: 'topic', v: (t) => link(`#/topics/${enc(t.topic)}`, t.topic) },
      { h: 'broker', v: (t) => t.brokerAddr },
      { h: 'read', num: true, v: (t) => t.readQueueNums },
      { h: 'write', num: true, v: (t) => t.writeQueueNums },
      { h: 'perm', num: true, v: (t) => t.perm },
      { h: 'order', v: (t) => (t.order ? 'yes' : 'no') },
    ], rows.filter((t) => t.topic.toLowerCase().includes(f)), { id: 'topic-table' }));
  };
  filter.addEventListener('input', draw);
  draw();
  const create = form([
    input('topic', 'new topic', { required: true, id: 'new-topic', maxlength: 127 }),
    input('queues', 'queues', { type: 'number', min: 1, max: 1024, value: 8 }),
    el('label', {}, 'perm', el('select', { name: 'perm' }, el('option', { value: 6 }, 'read+write'), el('option', { value: 4 }, 'read'), el('option', { value: 2 }, 'write'))),
  ], 'Create', async (v) => {
    await post('/topics', { topic: v.topic, queues: Number(v.queues), perm: Number(v.perm) });
    location.hash = `#/topics/${enc(v.topic)}`;
  }, { id: 'create-topic' });
  main.replaceChildren(el('h1', {}, 'Topics'), create, el('div', { class: 'row' }, filter), list);
  if (res.partial) showError(res.partial);
}

async function renderTopic(main, topic) {
  const [queues, route] = await Promise.all([get(`/topics/${enc(topic)}/queues`), get(`/topics/${enc(topic)}/route`)]);
  const q = queues.items || [];
  const total = q.reduce((s, x) => s + (x.maxOffset - x.minOffset), 0);
  const update = form([
    input('queues', 'queues', { type: 'number', min: 1, max: 1024, value: q.length || 8 }),
    el('label', {}, 'perm', el('select', { name: 'perm' }, el('option', { value: 6 }, 'read+write'), el('option', { value: 4 }, 'read'), el('option', { value: 2 }, 'write'))),
  ], 'Update', async (v) => {
    await api('PUT', `/topics/${enc(topic)}`, { queues: Number(v.queues), perm: Number(v.perm) });
    renderTopic(main, topic);
  }, { id: 'update-topic' });
  main.replaceChildren(
    el('h1', {}, `Topic ${topic}`),
    el('p', {}, `${total.toLocaleString('en')} messages stored · `, link(`#/messages?topic=${enc(topic)}`, 'search messages')),
    el('h2', {}, 'Queues'),
    table([
      { h: 'broker', v: (x) => x.brokerName },
      { h: 'queue', num: true, v: (x) => x.queueId },
      { h: 'min offset', num: true, v: (x) => x.minOffset },
      { h: 'max offset', num: true, v: (x) => x.maxOffset },
      { h: 'messages', num: true, v: (x) => x.maxOffset - x.minOffset },
      { h: 'last stored', v: (x) => when(x.lastUpdateTimestamp) },
    ], q, { id: 'queue-table' }),
    el('h2', {}, 'Route'),
    table([
      { h: 'broker', v: (b) => b.brokerName },
      { h: 'cluster', v: (b) => b.cluster },
      { h: 'addresses', v: (b) => Object.entries(b.brokerAddrs || {}).map(([id, a]) => `${id}: ${a}`).join(', ') },
    ], route.brokerDatas || []),
    table([
      { h: 'broker', v: (x) => x.brokerName },
      { h: 'read queues', num: true, v: (x) => x.readQueueNums },
      { h: 'write queues', num: true, v: (x) => x.writeQueueNums },
      { h: 'perm', num: true, v: (x) => x.perm },
    ], route.queueDatas || []),
    el('h2', {}, 'Change'),
    update,
    deleteBox(topic),
  );
}

// deleteBox asks for the topic's name before deleting it.
function deleteBox(topic) {
  const box = el('div');
  const start = el('button', { class: 'danger', id: 'delete-topic', type: 'button', onclick: () => {
    const name = el('input', { id: 'confirm-name', placeholder: topic, 'aria-label': 'type the topic name' });
    const go = el('button', { class: 'danger', id: 'confirm-delete', type: 'button', onclick: async () => {
      if (name.value !== topic) { showError('type the topic name to confirm'); return; }
      try {
        await api('DELETE', `/topics/${enc(topic)}`);
        location.hash = '#/topics';
      } catch (e) { showError(e); }
    } }, 'Delete for good');
    box.replaceChildren(el('div', { class: 'confirm' },
      el('p', {}, `Deleting ${topic} removes it from every broker and name server. Type its name to confirm.`),
      el('div', { class: 'row' }, name, go, el('button', { class: 'secondary', type: 'button', onclick: () => box.replaceChildren(start) }, 'Cancel'))));
  } }, 'Delete topic…');
  box.append(start);
  return box;
}
