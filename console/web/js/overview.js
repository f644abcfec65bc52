// Overview: brokers with role and disk use, live messages in/out per
// second, connections.
import { get } from './api.js';
import { el, table, card, bytes, duration } from './ui.js';
import { LiveChart } from './chart.js';

const num = (m, k) => Number((m && m[k]) || 0);

export async function render(main, _r, ctx) {
  const cards = el('div', { class: 'cards' });
  const chartBox = el('div', { class: 'chart', id: 'rates' });
  const brokers = el('div', { id: 'brokers' });
  main.replaceChildren(el('h1', {}, 'Overview'), cards, chartBox, el('h2', {}, 'Brokers'), brokers);
  const chart = ctx.chart(new LiveChart(chartBox, 'messages per second', ['in', 'out']));
  let last;
  ctx.every(2000, async () => {
    const res = await get('/cluster');
    const rows = res.items || [];
    const now = Date.now();
    const sum = (k) => rows.reduce((s, b) => s + num(b.runtimeInfo, k), 0);
    const put = rows.reduce((s, b) => s + (b.putMessages || 0), 0);
    const got = rows.reduce((s, b) => s + (b.getMessages || 0), 0);
    if (last) {
      const dt = (now - last.t) / 1000;
      chart.push(now / 1000, [Math.max(0, (put - last.put) / dt), Math.max(0, (got - last.got) / dt)]);
    }
    last = { t: now, put, got };
    const disk = rows.reduce((s, b) => s + num(b.runtimeInfo, 'commitLogMaxOffset') - num(b.runtimeInfo, 'commitLogMinOffset'), 0);
    cards.replaceChildren(
      card('brokers', rows.length, 'card-brokers'),
      card('reachable', rows.filter((b) => b.reachable).length),
      card('connections', sum('connections'), 'card-connections'),
      card('topics', sum('topicCount')),
      card('groups online', sum('consumerGroupsOnline')),
      card('commit log', bytes(disk)),
      card('messages in', put),
      card('messages out', got),
    );
    brokers.replaceChildren(table([
      { h: 'cluster', v: (b) => b.cluster },
      { h: 'broker', v: (b) => b.brokerName },
      { h: 'role', v: (b) => (b.brokerId === 0 ? 'master' : `replica ${b.brokerId}`) },
      { h: 'address', v: (b) => b.addr },
      { h: 'state', v: (b) => (b.reachable ? el('span', { class: 'ok' }, 'up') : el('span', { class: 'bad' }, b.error || 'down')) },
      { h: 'log bytes', num: true, v: (b) => bytes(num(b.runtimeInfo, 'commitLogMaxOffset') - num(b.runtimeInfo, 'commitLogMinOffset')) },
      { h: 'connections', num: true, v: (b) => num(b.runtimeInfo, 'connections') },
      { h: 'in (total)', num: true, v: (b) => b.putMessages },
      { h: 'out (total)', num: true, v: (b) => b.getMessages },
      { h: 'uptime', v: (b) => (b.reachable ? duration(b.uptimeSeconds) : '–') },
    ], rows, { id: 'broker-table' }));
  });
}
