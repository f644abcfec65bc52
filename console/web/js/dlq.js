// Dead letters of a group: browse, view, resend to the original topic.
import { get, post, enc } from './api.js';
import { el, table, form, input, link, showError } from './ui.js';

export async function render(main, r) {
  const pick = form([input('group', 'consumer group', { value: r.arg || '', id: 'dlq-group', required: true })], 'Browse',
    async (v) => { location.hash = `#/dlq/${enc(v.group)}`; }, { id: 'dlq-form' });
  if (!r.arg) { main.replaceChildren(el('h1', {}, 'Dead letters'), pick); return; }
  const group = r.arg;
  const res = await get(`/groups/${enc(group)}/dlq?max=100`);
  const msgs = res.items || [];
  const chosen = new Set();
  const result = el('div', { id: 'resend-result' });
  const resend = el('button', { id: 'dlq-resend', type: 'button', onclick: async () => {
    if (chosen.size === 0) { showError('choose messages to resend'); return; }
    try {
      const out = await post(`/groups/${enc(group)}/dlq/resend`, { msgIds: [...chosen] });
      result.replaceChildren(table([
        { h: 'dead letter', v: (x) => x.msgId },
        { h: 'resent as', v: (x) => (x.resent ? `${x.resent.msgId} → ${x.resent.topic} q${x.resent.queueId}@${x.resent.queueOffset}` : el('span', { class: 'bad' }, x.error)) },
      ], out.items || []));
    } catch (e) { showError(e); }
  } }, 'Resend chosen to their topic');
  main.replaceChildren(el('h1', {}, `Dead letters of ${group}`), pick, table([
    { h: '', v: (m) => el('input', { type: 'checkbox', 'aria-label': 'choose', onchange: (ev) => (ev.target.checked ? chosen.add(m.offsetMsgId) : chosen.delete(m.offsetMsgId)) }) },
    { h: 'message id', v: (m) => link(`#/message/${enc(m.offsetMsgId)}?topic=${enc(m.topic)}`, m.msgId) },
    { h: 'original topic', v: (m) => m.properties.RETRY_TOPIC },
    { h: 'stored', v: (m) => m.storeTime },
    { h: 'reconsumed', num: true, v: (m) => m.reconsumeTimes },
    { h: 'body', v: (m) => (m.bodyEncoding === 'utf8' ? m.body.slice(0, 60) : `${m.bodySize} bytes binary`) },
  ], msgs, { id: 'dlq-table', empty: 'no dead letters' }), el('div', { class: 'row' }, resend), result);
}
