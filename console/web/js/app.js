// The console's router: #/view/arg?query. Each view renders into <main>
// and registers its timers and charts with the context, which stops them
// when the view changes.
import { showError, el } from './ui.js';
import * as overview from './overview.js';
import * as topics from './topics.js';
import * as groups from './groups.js';
import * as messages from './messages.js';
import * as dlq from './dlq.js';

const views = { overview, topics, groups, messages, message: messages, dlq };

class Context {
  constructor() { this.timers = []; this.charts = []; this.alive = true; }
  every(ms, fn) {
    const tick = async () => { try { await fn(); } catch (e) { showError(e); } };
    tick();
    this.timers.push(setInterval(tick, ms));
  }
  chart(c) { this.charts.push(c); return c; }
  close() {
    this.alive = false;
    this.timers.forEach(clearInterval);
    this.charts.forEach((c) => c.destroy());
  }
}

let current;

function parse() {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [path, query = ''] = hash.split('?');
  const [name, ...rest] = path.split('/');
  return { name, arg: rest.map(decodeURIComponent).join('/'), query: new URLSearchParams(query) };
}

async function route() {
  const r = parse();
  const view = views[r.name] || overview;
  if (current) current.close();
  current = new Context();
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.view === r.name || (r.name === 'message' && a.dataset.view === 'messages'));
  }
  const main = document.getElementById('main');
  main.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  try {
    await view.render(main, r, current);
  } catch (e) {
    main.replaceChildren(el('h1', {}, 'Error'), el('p', { class: 'bad' }, String(e.message || e)));
  }
}

window.addEventListener('hashchange', route);
route();
