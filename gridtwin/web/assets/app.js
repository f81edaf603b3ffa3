// The control center's page: one script, no framework. Every value from the server is put in
// the page as text (never as HTML). Live values arrive over server-sent events.
'use strict';

const main = document.getElementById('main');
let me = null;
let live = null; // the newest status
let stream = null;
let onStatus = null; // the open view's live update
let onEvent = null; // the open view's newly logged event

// --- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid == null) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['content-type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) {
    const err = new Error((data && data.error) || r.statusText);
    err.status = r.status;
    throw err;
  }
  return data;
}

const can = (role) => me && ['viewer', 'operator', 'admin'].indexOf(me.role) >= ['viewer', 'operator', 'admin'].indexOf(role);
const fixed = (x, d) => (x == null || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const kw = (w) => fixed(w / 1000, 2) + ' kW';
const kwh = (j) => fixed(j / 3.6e6, 3) + ' kWh';
// The twin's clock, which runs ahead of the wall clock at more than real speed.
const clockNow = () => (live ? live.t + 1000 : Date.now());
const when = (ms) => new Date(ms).toLocaleString();
function message(el, text, ok) { el.textContent = text; el.className = ok ? 'ok' : 'error'; }

function setView(title, ...kids) {
  onStatus = null;
  onEvent = null;
  main.replaceChildren(h('h1', {}, title), ...kids);
}

// --- session -------------------------------------------------------------------------------

function loginView(note) {
  const out = h('p', { class: 'error', id: 'login-error' }, note || '');
  const form = h('form', { class: 'stack', id: 'login' },
    h('label', {}, 'User', h('input', { name: 'name', autocomplete: 'username', required: true })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { class: 'primary', type: 'submit' }, 'Log in'), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/login', { name: form.name.value, password: form.password.value });
      route();
    } catch (e) { message(out, e.message); }
  });
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').replaceChildren();
  setView('Log in', form);
}

function setupView() {
  const token = location.hash.slice(1);
  const out = h('p', {});
  const form = h('form', { class: 'stack', id: 'setup' },
    h('p', {}, 'Create the first administrator. This link works once.'),
    h('label', {}, 'User', h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9._-]{1,64}' })),
    h('label', {}, 'Password (10 characters or more)', h('input', { name: 'password', type: 'password', minlength: 10, required: true })),
    h('button', { class: 'primary', type: 'submit' }, 'Create'), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/setup', { token, name: form.name.value, password: form.password.value });
      history.replaceState(null, '', '/');
      loginView();
    } catch (e) { message(out, e.message); }
  });
  setView('Setup', form);
}

function chrome() {
  const links = [['#/', 'Overview'], ['#/energy', 'Energy'], ['#/reports', 'Reports'], ['#/alerts', 'Alerts'], ['#/events', 'Events'], ['#/history', 'History']];
  if (can('admin')) links.push(['#/users', 'Users & settings']);
  const here = '#/' + (location.hash.split('/')[1] || '');
  document.getElementById('nav').replaceChildren(...links.map(([href, text]) =>
    h('a', { href, class: href === here ? 'here' : '' }, text)));
  document.getElementById('who').replaceChildren(`${me.name} (${me.role})`,
    h('button', { id: 'logout', onclick: async () => { await api('POST', '/api/logout', {}); closeStream(); me = null; loginView(); } }, 'Log out'));
}

function connect() {
  if (stream) return;
  stream = new EventSource('/api/stream');
  stream.addEventListener('status', (e) => {
    live = JSON.parse(e.data);
    if (onStatus) onStatus(live);
  });
  stream.addEventListener('event', (e) => { if (onEvent) onEvent(JSON.parse(e.data)); });
  stream.onerror = () => { if (stream && stream.readyState === EventSource.CLOSED) { stream = null; setTimeout(connect, 2000); } };
}

function closeStream() { if (stream) stream.close(); stream = null; }

async function route() {
  if (location.pathname === '/setup') return setupView();
  try {
    me = await api('GET', '/api/me');
  } catch (e) {
    if (e.status === 401) return loginView();
    return setView('Error', h('p', { class: 'error' }, e.message));
  }
  chrome();
  connect();
  const [, view, arg] = location.hash.split('/');
  try {
    if (view === 'load' && arg) await loadView(decodeURIComponent(arg));
    else if (view === 'events') await eventsView();
    else if (view === 'alerts') await alertsView();
    else if (view === 'history') await historyView();
    else if (view === 'energy') await energyView();
    else if (view === 'reports') await reportsView();
    else if (view === 'fault' && arg) await faultView(Number(arg));
    else if (view === 'users' && can('admin')) await usersView();
    else overview();
  } catch (e) {
    if (e.status === 401) return loginView('Your session ended; log in again.');
    setView('Error', h('p', { class: 'error' }, e.message));
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);

// --- overview ------------------------------------------------------------------------------

async function switchLoad(name, to, critical) {
  let confirm = false;
  if (critical && to === 'off') {
    if (!window.confirm(`${name} is critical. Switch it off anyway?`)) return;
    confirm = true;
  }
  await api('POST', `/api/loads/${encodeURIComponent(name)}/switch`, { to, confirm });
}

function overview() {
  if (!live) {
    setView('Overview', h('p', { class: 'muted' }, 'Waiting for the twin…'));
    onStatus = () => overview();
    return;
  }
  if (live.feeder) return feederOverview();
  const field = (id) => h('span', { id, class: 'num' }, '–');
  const atsOut = h('p', { class: 'error', id: 'ats-result' });
  const ask = async (path, body, what, method = 'POST') => {
    try { await api(method, path, body); message(atsOut, what, true); } catch (e) { message(atsOut, e.message); }
  };
  const sourceCard = (k) => h('div', { class: 'card', id: `source-${k}` },
    h('h3', {}, k, h('span', { class: 'badge', id: `${k}-state` }, '–')),
    h('div', { class: 'big' }, field(`${k}-v`)),
    h('div', { class: 'muted' }, field(`${k}-hz`), ' · ', field(`${k}-p`), ' · ', field(`${k}-e`)),
    can('operator') ? h('div', { class: 'buttons' }, h('button', { id: `reset-${k}`, onclick: () => ask(`/api/sources/${k}/reset`, {}, `${k}: protection reset`) }, 'Reset protection')) : null);
  const minutes = h('input', { id: 'test-minutes', type: 'number', min: 1, max: 240, value: 30, size: 4 });
  const testButtons = can('operator') ? h('div', { class: 'buttons' },
    h('label', {}, 'Minutes', minutes),
    h('button', { id: 'test-on-load', onclick: () => { if (window.confirm('Move the load to the backup for a transfer test?')) ask('/api/ats/test', { on_load: true, minutes: Number(minutes.value) }, 'Transfer test started'); } }, 'Transfer test (on load)'),
    h('button', { id: 'test-off-load', onclick: () => ask('/api/ats/test', { on_load: false, minutes: Number(minutes.value) }, 'Generator exercise started') }, 'Exercise (off load)'),
    h('button', { id: 'test-end', onclick: () => ask('/api/ats/test/end', {}, 'Test ended') }, 'End test')) : null;
  const site = h('div', { class: 'grid' },
    h('div', { class: 'card', id: 'ats-card' }, h('h3', {}, 'Transfer switch', h('span', { class: 'badge', id: 'ats-test' }, '')), h('div', { class: 'big' }, field('ats')),
      h('div', { class: 'muted' }, 'clock ', field('clock')), h('div', { class: 'muted' }, field('exercise')), testButtons,
      can('admin') ? exerciseForm(live.exercise, (ex, what) => ask('/api/ats/exercise', ex, what, 'PUT')) : null, atsOut),
    sourceCard('main'), sourceCard('backup'),
    h('div', { class: 'card' }, h('h3', {}, 'Bus'), h('div', { class: 'big' }, field('bus-v')),
      h('div', { class: 'muted' }, field('bus-hz'), ' · total ', field('total'))));
  const tiles = h('div', { class: 'grid', id: 'loads' });
  const made = new Map();
  const error = h('p', { class: 'error', id: 'switch-error' });
  const diagram = h('div', { class: 'chart', id: 'one-line-box' });
  const moving = liveChart(pduChannels(live));
  setView('Overview', site, h('h2', {}, 'One-line diagram'), diagram, h('h2', {}, 'Live'), moving.el, h('h2', {}, 'Loads'), error, tiles);
  const set = (id, text) => { const e = document.getElementById(id); if (e) e.textContent = text; };
  let drawnAt = 0;
  onEvent = (e) => moving.mark(e);
  onStatus = (s) => {
    moving.push(s);
    if (Date.now() - drawnAt > 250) { drawnAt = Date.now(); diagram.replaceChildren(oneLine(s)); }
    set('ats', s.ats);
    set('exercise', exerciseText(s.exercise));
    const badge = document.getElementById('ats-test');
    badge.textContent = s.ats_test ? `test ${s.ats_test.replace('_', ' ')}` : '';
    badge.className = s.ats_test ? 'badge s-waiting' : '';
    set('clock', new Date(s.t).toLocaleTimeString() + (s.speed !== 1 ? ` (${s.speed}×)` : ''));
    for (const k of ['main', 'backup']) {
      const x = s[k];
      set(`${k}-v`, fixed(x.v, 1) + ' V');
      set(`${k}-hz`, fixed(x.hz, 2) + ' Hz');
      set(`${k}-p`, kw(x.p_w));
      set(`${k}-e`, kwh(x.energy_j));
      const state = x.locked_out ? 'locked out' : x.closed ? 'feeding' : x.available ? 'available' : 'down';
      const b = document.getElementById(`${k}-state`);
      b.textContent = state;
      b.className = 'badge ' + (x.locked_out ? 's-locked_out' : x.closed ? 's-on' : x.available ? 's-waiting' : 's-tripped');
    }
    set('bus-v', fixed(s.bus_v, 1) + ' V');
    set('bus-hz', fixed(s.bus_hz, 2) + ' Hz');
    set('total', kw(s.total_w));
    for (const l of s.loads) {
      let t = made.get(l.name);
      if (!t) {
        const id = (q) => `load-${l.name}-${q}`;
        const buttons = can('operator') ? h('div', { class: 'buttons' },
          ...['on', 'off', 'reset'].map((to) => h('button', {
            'data-load': l.name, 'data-to': to,
            onclick: async () => {
              try { error.textContent = ''; await switchLoad(l.name, to, l.critical); } catch (e) { message(error, `${l.name}: ${e.message}`); }
            },
          }, to[0].toUpperCase() + to.slice(1)))) : null;
        t = h('div', { class: 'card load', id: `load-${l.name}` },
          h('h3', {}, h('a', { href: `#/load/${encodeURIComponent(l.name)}` }, l.name),
            h('span', { class: 'badge', id: id('status') })),
          h('div', { class: 'big', id: id('p') }),
          h('div', { class: 'muted', id: id('detail') }),
          h('div', { class: 'muted', id: id('settings') }),
          buttons);
        tiles.append(t);
        made.set(l.name, t);
      }
      const status = document.getElementById(`load-${l.name}-status`);
      status.textContent = l.status.replace('_', ' ');
      status.className = `badge s-${l.status}`;
      set(`load-${l.name}-p`, kw(l.p_w));
      set(`load-${l.name}-detail`, `${fixed(l.i, 2)} A · ${fixed(l.v, 1)} V · PF ${fixed(l.pf, 2)} · ${kwh(l.energy_j)}`);
      const limit = [l.limit_a != null ? `${l.limit_a} A` : null, l.limit_w != null ? `${l.limit_w} W` : null].filter(Boolean).join(', ');
      set(`load-${l.name}-settings`, `priority ${l.priority}${l.critical ? ' · critical' : ''}${limit ? ' · limit ' + limit : ''}`);
    }
  };
  if (live) onStatus(live);
}

function feederOverview() {
  const field = (id) => h('span', { id, class: 'num' }, '–');
  const site = h('div', { class: 'grid' },
    h('div', { class: 'card' }, h('h3', {}, 'Source'), h('div', { class: 'big' }, field('f-p')),
      h('div', { class: 'muted' }, field('f-q'), ' · ', field('f-e'))),
    h('div', { class: 'card' }, h('h3', {}, 'Home voltages'), h('div', { class: 'big' }, field('f-v')),
      h('div', { class: 'muted' }, 'lowest – highest, pu')),
    h('div', { class: 'card' }, h('h3', {}, 'Voltage unbalance'), h('div', { class: 'big' }, field('f-vuf')),
      h('div', { class: 'muted' }, 'worst three-phase bus · clock ', field('clock'))));
  const heads = h('tbody', { id: 'heads' });
  const homes = h('div', { class: 'grid', id: 'homes' });
  const error = h('p', { class: 'error', id: 'phase-error' });
  const moving = liveChart([
    { name: 'source', unit: 'kW', get: (s) => s.feeder.source_w / 1000 },
    { name: 'lowest home', unit: 'pu', get: (s) => s.feeder.v_min_pu },
    { name: 'highest home', unit: 'pu', get: (s) => s.feeder.v_max_pu }]);
  onEvent = (e) => moving.mark(e);
  setView('Overview', site, h('h2', {}, 'Live'), moving.el,
    h('h2', {}, 'Transformers'),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Secondary bus', 'Phase A', 'Phase B', 'Phase C', 'Neutral', 'Current unbalance'].map((t) => h('th', {}, t)))), heads)),
    h('h2', {}, 'Homes'), error, homes);
  const set = (id, text) => { const e = document.getElementById(id); if (e) e.textContent = text; };
  const made = new Map();
  onStatus = (s) => {
    const f = s.feeder;
    if (!f) return;
    moving.push(s);
    set('clock', new Date(s.t).toLocaleTimeString() + (s.speed !== 1 ? ` (${s.speed}×)` : ''));
    set('f-p', kw(f.source_w));
    set('f-q', fixed(f.source_var / 1000, 2) + ' kvar');
    set('f-e', kwh(f.source_energy_j));
    set('f-v', `${fixed(f.v_min_pu, 3)} – ${fixed(f.v_max_pu, 3)}`);
    set('f-vuf', fixed(f.worst_vuf_pct, 2) + ' %');
    heads.replaceChildren(...f.heads.map((hd) => {
      const amp = (p) => { const a = hd.amps.find((x) => x[0] === p); return a ? fixed(a[1], 1) + ' A' : '–'; };
      return h('tr', {}, h('td', {}, hd.bus), h('td', { class: 'num' }, amp('A')), h('td', { class: 'num' }, amp('B')), h('td', { class: 'num' }, amp('C')),
        h('td', { class: 'num' }, fixed(hd.neutral_a, 1) + ' A'), h('td', { class: 'num' }, fixed(hd.unbalance_pct, 1) + ' %'));
    }));
    for (const home of f.homes) {
      const id = (q) => `home-${home.name}-${q}`;
      if (!made.has(home.name)) {
        const moves = can('operator') && home.phase !== 'polyphase' ? h('div', { class: 'buttons' },
          ...['A', 'B', 'C'].map((p) => h('button', {
            'data-home': home.name, 'data-phase': p,
            onclick: async () => {
              try { error.textContent = ''; await api('POST', `/api/homes/${encodeURIComponent(home.name)}/phase`, { phase: p }); } catch (e) { message(error, `${home.name}: ${e.message}`); }
            },
          }, p))) : null;
        const card = h('div', { class: 'card home', id: `home-${home.name}` },
          h('h3', {}, home.name, h('span', { class: 'badge', id: id('phase') })),
          h('div', { class: 'big', id: id('p') }), h('div', { class: 'muted', id: id('v') }), moves);
        homes.append(card);
        made.set(home.name, card);
      }
      const badge = document.getElementById(id('phase'));
      badge.textContent = home.phase;
      badge.className = `badge ph-${home.phase}`;
      set(id('p'), kw(home.p_w));
      set(id('v'), `${fixed(home.v_pu, 3)} pu · ${kwh(home.energy_j)}`);
    }
  };
  onStatus(live);
}

// --- generator exercise -------------------------------------------------------------------

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function exerciseText(ex) {
  if (!ex) return 'no exercise scheduled';
  const [kind, w] = Object.entries(ex.schedule)[0];
  const days = kind === 'Weekly' ? w.days.join(', ') : kind === 'Daily' ? 'daily' : '';
  return `exercise ${days} ${String(w.on).slice(0, 5)}–${String(w.off).slice(0, 5)}, ${ex.on_load ? 'on' : 'off'} load`;
}

// An admin's weekly exercise: its days, window and whether it carries the load.
function exerciseForm(ex, send) {
  const w = ex && ex.schedule.Weekly ? ex.schedule.Weekly : { days: ['Mon'], on: '08:00', off: '08:30' };
  const form = h('form', { id: 'exercise-form', class: 'filters' },
    h('span', { class: 'days' }, ...DAYS.map((d) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'day', value: d, checked: w.days.includes(d) }), d))),
    h('label', {}, 'From', h('input', { name: 'on', value: String(w.on).slice(0, 5), size: 5 })),
    h('label', {}, 'To', h('input', { name: 'off', value: String(w.off).slice(0, 5), size: 5 })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'on_load', checked: ex ? ex.on_load : false }), 'On load'),
    h('button', { type: 'submit', id: 'save-exercise' }, 'Save exercise'),
    h('button', { type: 'button', id: 'remove-exercise', onclick: () => send(null, 'No exercise scheduled') }, 'Remove'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const days = [...form.querySelectorAll('[name=day]:checked')].map((c) => c.value);
    send({ schedule: { Weekly: { days, on: form.on.value.trim(), off: form.off.value.trim() } }, on_load: form.on_load.checked }, 'Exercise schedule saved');
  });
  return h('details', {}, h('summary', {}, 'Exercise schedule'), form);
}

// --- one-line diagram and live chart --------------------------------------------------------

const STATUS_COLOUR = { on: '#1e8e3e', off: '#7a8491', shed: '#c77c02', tripped: '#c62828', locked_out: '#6a1b9a', waiting: '#1565c0' };

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid != null) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}

// The PDU as a one-line diagram: the sources, their contactors (the transfer switch), the bus
// and each load behind its relay, drawn live (energised lines dark, dead ones grey).
function oneLine(s) {
  const n = s.loads.length;
  const W = Math.max(760, 300 + n * 92);
  const live = (on) => (on ? '#14202e' : '#b8c0ca');
  const busLive = s.bus_v > 50;
  const sw = (x, y, closed, on) => (closed
    ? svg('line', { x1: x, y1: y, x2: x, y2: y + 26, stroke: live(on), 'stroke-width': 3 })
    : svg('line', { x1: x, y1: y, x2: x + 14, y2: y + 22, stroke: live(false), 'stroke-width': 3 }));
  const source = (key, x, glyph, label) => {
    const src = s[key];
    const state = src.locked_out ? 'locked out' : src.closed ? 'feeding' : src.available ? 'available' : 'down';
    return svg('g', { id: `ol-${key}`, 'data-closed': String(src.closed), 'data-state': state },
      svg('circle', { cx: x, cy: 46, r: 22, fill: '#fff', stroke: live(src.available), 'stroke-width': 3 }),
      svg('text', { x, y: 53, 'text-anchor': 'middle', 'font-size': 20 }, glyph),
      svg('text', { x: x + 28, y: 30, 'font-size': 13 }, label),
      svg('text', { x: x + 28, y: 46, 'font-size': 12, fill: '#5b6676' }, `${fixed(src.v, 0)} V · ${fixed(src.p_w / 1000, 2)} kW`),
      svg('text', { x: x + 28, y: 62, 'font-size': 12, fill: '#5b6676' }, state),
      svg('line', { x1: x, y1: 68, x2: x, y2: 110, stroke: live(src.available), 'stroke-width': 3 }),
      sw(x, 110, src.closed, src.available),
      svg('line', { x1: x, y1: 136, x2: x, y2: 180, stroke: live(busLive), 'stroke-width': 3 }));
  };
  const loads = s.loads.map((l, k) => {
    const x = 300 + k * 92 + 40;
    const on = busLive && l.relay;
    return svg('g', { id: `ol-load-${l.name}`, 'data-relay': String(l.relay), 'data-status': l.status },
      svg('line', { x1: x, y1: 180, x2: x, y2: 204, stroke: live(busLive), 'stroke-width': 3 }),
      sw(x, 204, l.relay, busLive),
      svg('line', { x1: x, y1: 230, x2: x, y2: 250, stroke: live(on), 'stroke-width': 3 }),
      svg('rect', { x: x - 40, y: 250, width: 80, height: 30, rx: 6, fill: STATUS_COLOUR[l.status] || '#7a8491' }),
      svg('text', { x, y: 270, 'text-anchor': 'middle', 'font-size': 12, fill: '#fff' }, l.name),
      svg('text', { x, y: 298, 'text-anchor': 'middle', 'font-size': 12, fill: '#5b6676' }, `${fixed(l.p_w / 1000, 2)} kW`),
      svg('text', { x, y: 313, 'text-anchor': 'middle', 'font-size': 11, fill: '#5b6676' }, l.status.replace('_', ' ')));
  });
  return svg('svg', { id: 'one-line', viewBox: `0 0 ${W} 322`, width: '100%', role: 'img', 'aria-label': 'One-line diagram of the PDU' },
    source('main', 50, '~', 'Main'), source('backup', 170, 'G', `Backup${s.engine_start ? ' (engine running)' : ''}`),
    svg('text', { x: 40, y: 170, 'font-size': 12, fill: '#5b6676' }, `transfer switch: ${s.ats}`),
    svg('line', { x1: 30, y1: 180, x2: W - 20, y2: 180, stroke: live(busLive), 'stroke-width': 6 }),
    svg('text', { x: W - 20, y: 172, 'text-anchor': 'end', 'font-size': 12 }, `bus ${fixed(s.bus_v, 0)} V · ${fixed(s.total_w / 1000, 2)} kW`),
    loads);
}

const SEVERITY_COLOUR = { info: '#5b6676', warning: '#c77c02', alarm: '#c62828', critical: '#c62828' };

// Each event as a dashed line across a uPlot chart at its time, labelled with its subject and
// kind, in its severity's colour.
function markEvents(u, events) {
  const c = u.ctx;
  c.save();
  c.font = `${11 * devicePixelRatio}px system-ui`;
  for (const e of events) {
    const x = u.valToPos(e.t / 1000, 'x', true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
    c.strokeStyle = c.fillStyle = SEVERITY_COLOUR[e.severity] || '#5b6676';
    c.setLineDash([3, 3]); c.beginPath(); c.moveTo(x, u.bbox.top); c.lineTo(x, u.bbox.top + u.bbox.height); c.stroke();
    c.fillText(`${e.subject} ${e.kind}`, x + 3, u.bbox.top + 12 * devicePixelRatio);
  }
  c.restore();
}

// What a PDU's live chart can show.
function pduChannels(s) {
  return [
    { name: 'site', unit: 'kW', get: (x) => x.total_w / 1000 },
    { name: 'main', unit: 'kW', get: (x) => x.main.p_w / 1000 },
    { name: 'backup', unit: 'kW', get: (x) => x.backup.p_w / 1000 },
    { name: 'bus', unit: 'V', get: (x) => x.bus_v },
    ...(s ? s.loads : []).map((l) => ({ name: l.name, unit: 'kW', get: (x) => { const m = x.loads.find((y) => y.name === l.name); return m ? m.p_w / 1000 : null; } })),
  ];
}

// A chart that moves as values arrive: chosen channels on one time axis (one y axis per unit),
// one point per second of the site's clock over its last five minutes, the site's events
// marked as they are logged, and the same values as a table beside it.
function liveChart(channels) {
  const KEEP = 300;
  const xs = [];
  const cols = channels.map(() => []);
  const marks = [];
  let chosen = channels.map((c, k) => k < 3);
  const box = h('div', { class: 'chart', id: 'live-chart', 'data-points': 0, 'data-marks': 0 });
  const body = h('tbody', { id: 'live-table' });
  const head = h('thead', {});
  const picks = h('div', { class: 'filters', id: 'live-channels' }, ...channels.map((c, k) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: c.name, checked: chosen[k], onchange: (e) => { chosen[k] = e.target.checked; build(); } }), `${c.name} (${c.unit})`)));
  let plot = null;
  let tabled = 0;
  const marker = (u) => markEvents(u, marks);
  const picked = () => channels.map((c, k) => [c, k]).filter(([, k]) => chosen[k]);
  const build = () => {
    const list = picked();
    const units = [...new Set(list.map(([c]) => c.unit))];
    const colours = ['#1565c0', '#c77c02', '#1e8e3e', '#6a1b9a', '#c62828', '#00838f'];
    box.replaceChildren();
    head.replaceChildren(h('tr', {}, h('th', {}, 'Time'), ...list.map(([c]) => h('th', { class: 'num' }, `${c.name} (${c.unit})`))));
    tabled = 0;
    if (!list.length) { plot = null; return; }
    plot = new uPlot({
      width: Math.max(280, box.clientWidth - 12 || 600), height: 220,
      scales: Object.fromEntries(units.map((u) => [u, {}])),
      axes: [{}, ...units.map((u, i) => ({ scale: u, label: u, side: i ? 1 : 3, grid: { show: i === 0 } }))],
      series: [{}, ...list.map(([c], i) => ({ label: `${c.name} (${c.unit})`, scale: c.unit, stroke: colours[i % colours.length], width: 1.5 }))],
      hooks: { draw: [marker] },
    }, [xs, ...list.map(([, k]) => cols[k])], box);
  };
  const table = () => {
    const list = picked();
    const rows = [];
    for (let i = xs.length - 1; i >= Math.max(0, xs.length - 12); i--) {
      rows.push(h('tr', {}, h('td', { class: 'num' }, new Date(xs[i] * 1000).toLocaleTimeString()), ...list.map(([c, k]) => h('td', { class: 'num' }, fixed(cols[k][i], c.unit === 'V' ? 1 : 3)))));
    }
    body.replaceChildren(...rows);
  };
  const el = h('div', { class: 'live' }, picks, h('div', { class: 'side' }, box, h('div', { class: 'scroll' }, h('table', { class: 'compact' }, head, body))));
  requestAnimationFrame(build);
  return {
    el,
    push(s) {
      const t = Math.floor(s.t / 1000);
      if (xs.length && xs[xs.length - 1] >= t) return;
      xs.push(t);
      channels.forEach((c, k) => cols[k].push(c.get(s)));
      if (xs.length > KEEP) { xs.shift(); cols.forEach((c) => c.shift()); }
      while (marks.length && marks[0].t / 1000 < xs[0]) marks.shift();
      box.dataset.points = xs.length;
      if (plot) plot.setData([xs, ...picked().map(([, k]) => cols[k])]);
      if (Date.now() - tabled > 1000) { tabled = Date.now(); table(); }
    },
    mark(e) {
      marks.push(e);
      box.dataset.marks = marks.length;
      if (plot) plot.redraw(false);
    },
  };
}

// --- charts --------------------------------------------------------------------------------

const RANGES = [['15 min', 15 * 60e3], ['1 h', 3600e3], ['6 h', 6 * 3600e3], ['24 h', 24 * 3600e3], ['7 days', 7 * 86400e3], ['30 days', 30 * 86400e3]];

// A uPlot chart of stored channels over [from, to): the first with its min-max band, each unit
// on its own axis, events of warning and worse marked; dragging across it selects a narrower
// range, which `onRange` is told. `table` (when given) gets the same points as rows.
async function drawChart(box, channels, from, to, onRange, table) {
  const range = `from=${Math.floor(from)}&to=${Math.ceil(to)}`;
  const [series, events] = await Promise.all([
    Promise.all(channels.map((c) => api('GET', `/api/history?channel=${encodeURIComponent(c.name)}&${range}&points=600`))),
    api('GET', `/api/events?severity=warning&limit=200&${range}`)]);
  // One time axis: every channel's buckets start at the same instants.
  const xs = [...new Set(series.flatMap((pts) => pts.map((p) => p.t)))].sort((a, b) => a - b);
  const at = series.map((pts) => new Map(pts.map((p) => [p.t, p])));
  const col = (k, f) => xs.map((t) => { const p = at[k].get(t); return p ? p[f] : null; });
  const units = [...new Set(channels.map((c) => c.unit))];
  const colours = ['#1565c0', '#c77c02', '#1e8e3e', '#6a1b9a'];
  const marker = (u) => markEvents(u, events);
  const opts = {
    width: Math.max(280, box.clientWidth - 12), height: 260,
    scales: Object.fromEntries(units.map((u) => [u, {}])),
    axes: [{}, ...units.map((u, i) => ({ scale: u, label: u, side: i ? 1 : 3, grid: { show: i === 0 } }))],
    series: [{}, ...channels.map((c, k) => ({ label: `${c.name} (${c.unit})`, scale: c.unit, stroke: colours[k % colours.length], width: 1.5 })),
      { label: 'min', scale: channels[0].unit, stroke: '#9ab' }, { label: 'max', scale: channels[0].unit, stroke: '#9ab' }],
    bands: [{ series: [channels.length + 2, channels.length + 1], fill: 'rgba(21,101,192,0.12)' }],
    cursor: { drag: { x: true, y: false } },
    hooks: {
      draw: [marker],
      setSelect: [(u) => {
        if (u.select.width < 5) return;
        const a = u.posToVal(u.select.left, 'x') * 1000;
        const b = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
        onRange(a, b);
      }],
    },
  };
  box.replaceChildren();
  if (table) {
    table.replaceChildren(
      h('thead', {}, h('tr', {}, h('th', {}, 'Time'), ...channels.map((c) => h('th', { class: 'num' }, `${c.name} (${c.unit})`)))),
      h('tbody', {}, ...xs.map((t, i) => h('tr', {}, h('td', { class: 'num' }, when(t)), ...channels.map((c, k) => h('td', { class: 'num' }, fixed(col(k, 'mean')[i], 3)))))));
  }
  if (!xs.length) { box.append(h('p', { class: 'muted' }, 'Nothing stored in this range yet.')); return; }
  new uPlot(opts, [xs.map((t) => t / 1000), ...channels.map((c, k) => col(k, 'mean')), col(0, 'min'), col(0, 'max')], box);
}

function exportLink(channels, from, to) {
  return `/api/export?channels=${encodeURIComponent(channels.join(','))}&from=${Math.floor(from)}&to=${Math.ceil(to)}`;
}

// --- load detail ---------------------------------------------------------------------------

function scheduleRow(s) {
  const kind = s ? Object.keys(s)[0] : 'Daily';
  const v = s ? s[kind] : { on: '07:00', off: '19:00', days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'] };
  const isOnce = kind === 'Once';
  const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const row = h('div', { class: 'schedule' },
    h('label', {}, 'Kind', h('select', { name: 'kind' }, ...['Daily', 'Weekly', 'Once'].map((k) => h('option', { value: k, selected: k === kind }, k)))),
    h('label', {}, 'On', h('input', { name: 'on', value: isOnce ? v.on : v.on.slice(0, 5), placeholder: isOnce ? 'YYYY-MM-DDTHH:MM' : 'HH:MM' })),
    h('label', {}, 'Off', h('input', { name: 'off', value: isOnce ? v.off : v.off.slice(0, 5), placeholder: isOnce ? 'YYYY-MM-DDTHH:MM' : 'HH:MM' })),
    h('span', { class: 'days' }, ...days.map((d) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'day', value: d, checked: (v.days || []).includes(d) }), d))),
    h('button', { type: 'button', onclick: () => row.remove() }, 'Remove'));
  return row;
}

function readSchedule(row) {
  const kind = row.querySelector('[name=kind]').value;
  const on = row.querySelector('[name=on]').value.trim();
  const off = row.querySelector('[name=off]').value.trim();
  if (kind === 'Weekly') {
    const days = [...row.querySelectorAll('[name=day]:checked')].map((c) => c.value);
    return { Weekly: { days, on, off } };
  }
  return { [kind]: { on, off } };
}

async function loadView(name) {
  const detail = await api('GET', `/api/loads/${encodeURIComponent(name)}`);
  const cfg = detail.settings;
  const admin = can('admin');
  const out = h('p', { id: 'settings-result' });
  const num = (n, v, step) => h('input', { name: n, type: 'number', step: step || 'any', min: 0, value: v == null ? '' : v, disabled: !admin });
  const schedules = h('div', { id: 'schedules' }, ...cfg.schedules.map(scheduleRow));
  const form = h('form', { id: 'settings' },
    h('div', { class: 'filters' },
      h('label', {}, 'Priority (0 = most important)', num('priority', cfg.priority, 1)),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'critical', checked: cfg.critical, disabled: !admin }), 'Critical (never shed)'),
      h('label', {}, 'At power on', h('select', { name: 'power_on', disabled: !admin }, ...['On', 'Off', 'Last'].map((k) => h('option', { value: k, selected: cfg.power_on === k }, k)))),
      h('label', {}, 'Current limit, A', num('limit_a', cfg.limit_a)),
      h('label', {}, 'Power limit, W', num('limit_w', cfg.limit_w)),
      h('label', {}, 'Limit delay, s', num('limit_delay', cfg.limit_delay)),
      h('label', {}, 'On loss of measurement', h('select', { name: 'on_loss', disabled: !admin },
        ...[['', 'Hold if critical, else off'], ['Off', 'Off'], ['Hold', 'Hold']].map(([k, t]) => h('option', { value: k, selected: (cfg.on_loss || '') === k }, t))))),
    h('h2', {}, 'Schedules'),
    h('p', { class: 'muted' }, 'A schedule switches at its edges and leaves the load alone in between; a window whose off comes before its on crosses midnight.'),
    schedules,
    admin ? h('div', { class: 'buttons' },
      h('button', { type: 'button', id: 'add-schedule', onclick: () => schedules.append(scheduleRow(null)) }, 'Add schedule'),
      h('button', { type: 'submit', class: 'primary', id: 'save-settings' }, 'Save settings')) : h('p', { class: 'muted' }, 'Only an admin changes settings.'),
    out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const opt = (x) => (x.value === '' ? null : Number(x.value));
    const body = {
      ...cfg,
      priority: Number(f.priority.value),
      critical: f.critical.checked,
      power_on: f.power_on.value,
      limit_a: opt(f.limit_a),
      limit_w: opt(f.limit_w),
      limit_delay: Number(f.limit_delay.value),
      on_loss: f.on_loss.value || null,
      schedules: [...schedules.querySelectorAll('.schedule')].map(readSchedule),
    };
    try {
      await api('PUT', `/api/loads/${encodeURIComponent(name)}/settings`, body);
      message(out, 'Saved; in force now.', true);
    } catch (e) { message(out, e.message); }
  });

  const now = h('div', { class: 'grid' });
  const chartBox = h('div', { class: 'chart', id: 'load-chart' });
  const quantity = h('select', { id: 'load-quantity' }, ...[['p', 'W'], ['i', 'A'], ['v', 'V'], ['pf', '1'], ['energy', 'J']].map(([q, u]) => h('option', { value: q, 'data-unit': u }, q)));
  let range = [clockNow() - 15 * 60e3, clockNow()];
  const redraw = () => drawChart(chartBox, [{ name: `load/${name}/${quantity.value}`, unit: quantity.selectedOptions[0].dataset.unit }], range[0], range[1], (a, b) => { range = [a, b]; redraw(); });
  quantity.addEventListener('change', redraw);
  const presets = h('select', { id: 'load-range', onchange: (e) => { const ms = Number(e.target.value); range = [clockNow() - ms, clockNow()]; redraw(); } },
    ...RANGES.map(([t, ms]) => h('option', { value: ms }, t)));
  setView(name, now, h('h2', {}, 'History'), h('div', { class: 'filters' }, quantity, presets), chartBox, h('h2', {}, 'Settings'), form);
  onStatus = (s) => {
    const l = s.loads.find((x) => x.name === name);
    if (!l) return;
    now.replaceChildren(
      h('div', { class: 'card' }, h('h3', {}, 'State', h('span', { class: `badge s-${l.status}`, id: 'detail-status' }, l.status.replace('_', ' '))), h('div', { class: 'big', id: 'detail-power' }, kw(l.p_w))),
      h('div', { class: 'card' }, h('h3', {}, 'Current'), h('div', { class: 'big' }, fixed(l.i, 2) + ' A'), h('div', { class: 'muted' }, fixed(l.v, 1) + ' V · PF ' + fixed(l.pf, 2))),
      h('div', { class: 'card' }, h('h3', {}, 'Energy'), h('div', { class: 'big' }, kwh(l.energy_j))));
  };
  if (live) onStatus(live);
  await redraw();
}

// --- alerts --------------------------------------------------------------------------------

const QUANTITIES = [['P', 'W'], ['Q', 'var'], ['S', 'VA'], ['Pf', '1'], ['I', 'A'], ['V', 'V (feeder: pu)'], ['Hz', 'Hz'],
  ['Thd', '% current THD'], ['ThdV', '% voltage THD'], ['VoltageUnbalance', '%'], ['CurrentUnbalance', '%'], ['Neutral', 'A'],
  ['Demand', 'W, mean over a window'], ['EnergyPerDay', 'kWh since midnight']];

// A rule's scope as the API writes it, and back, as one select's value ("Load:fridge").
const scopeValue = (s) => (typeof s === 'string' ? s : Object.entries(s).map(([k, v]) => (k === 'Group' ? `Group:${v.name}:${v.loads.join(',')}` : `${k}:${v}`))[0]);
function scopeOf(value) {
  const [k, a, b] = value.split(':');
  if (k === 'Site') return 'Site';
  if (k === 'Group') return { Group: { name: a, loads: (b || '').split(',').filter(Boolean) } };
  return { [k]: a };
}

function scopeChoices(rule) {
  const s = live || {};
  const out = [['Site', 'the site']];
  if (!s.feeder) out.push(['Source:Main', 'main'], ['Source:Backup', 'backup'], ...(s.loads || []).map((l) => [`Load:${l.name}`, `load ${l.name}`]));
  else out.push(...s.feeder.heads.map((x) => [`Head:${x.bus}`, `transformer ${x.bus}`]), ...s.feeder.homes.map((x) => [`Home:${x.name}`, `home ${x.name}`]));
  const mine = rule ? scopeValue(rule.scope) : null;
  if (mine && !out.some(([v]) => v === mine)) out.push([mine, mine]);
  return out;
}

function ruleRow(rule, admin) {
  const r = rule || { name: '', quantity: 'P', scope: 'Site', when: 'Above', warning: null, critical: null, after: 0, hysteresis: 0, clear_after: 0, action: 'Notify' };
  const q = typeof r.quantity === 'string' ? r.quantity : 'Demand';
  const win = typeof r.quantity === 'object' ? r.quantity.Demand.window : 900;
  const num = (n, v, label) => h('label', {}, label, h('input', { name: n, type: 'number', step: 'any', value: v == null ? '' : v, size: 6, disabled: !admin }));
  const row = h('div', { class: 'schedule rule' },
    h('label', {}, 'Name', h('input', { name: 'name', value: r.name, size: 10, required: true, disabled: !admin })),
    h('label', {}, 'Quantity', h('select', { name: 'quantity', disabled: !admin }, ...QUANTITIES.map(([k, u]) => h('option', { value: k, selected: k === q }, `${k} (${u})`)))),
    num('window', win, 'Window, s'),
    h('label', {}, 'Of', h('select', { name: 'scope', disabled: !admin }, ...scopeChoices(rule).map(([v, t]) => h('option', { value: v, selected: rule && v === scopeValue(r.scope) }, t)))),
    h('label', {}, 'When', h('select', { name: 'when', disabled: !admin }, ...['Above', 'Below'].map((k) => h('option', { value: k, selected: k === r.when }, k.toLowerCase())))),
    num('warning', r.warning, 'Warning'), num('critical', r.critical, 'Critical'),
    num('after', r.after, 'For, s'), num('hysteresis', r.hysteresis, 'Hysteresis'), num('clear_after', r.clear_after, 'Clear after, s'),
    h('label', {}, 'Action', h('select', { name: 'action', disabled: !admin }, ...[['Notify', 'notify'], ['Log', 'log only'], ['Shed', 'notify and shed']].map(([k, t]) => h('option', { value: k, selected: k === r.action }, t)))),
    h('label', {}, 'Shed loads', h('input', { name: 'shed', value: (r.shed || []).join(','), size: 10, placeholder: 'the scope\'s', disabled: !admin })),
    h('label', {}, 'Tell group', h('input', { name: 'notify', value: r.notify || '', size: 8, placeholder: 'default', disabled: !admin })),
    num('escalate_after', r.escalate ? r.escalate.after : null, 'Unacknowledged for, s'),
    h('label', {}, 'then tell', h('input', { name: 'escalate_to', value: r.escalate ? r.escalate.to : '', size: 8, placeholder: 'nobody', disabled: !admin })),
    admin ? h('button', { type: 'button', onclick: () => row.remove() }, 'Remove') : null);
  return row;
}

function readRule(row) {
  const v = (n) => row.querySelector(`[name=${n}]`).value.trim();
  const opt = (n) => (v(n) === '' ? null : Number(v(n)));
  const quantity = v('quantity') === 'Demand' ? { Demand: { window: Number(v('window')) } } : v('quantity');
  return {
    name: v('name'), quantity, scope: scopeOf(v('scope')), when: v('when'), warning: opt('warning'), critical: opt('critical'),
    after: opt('after') || 0, hysteresis: opt('hysteresis') || 0, clear_after: opt('clear_after') || 0, action: v('action'),
    notify: v('notify') || null,
    shed: v('action') === 'Shed' ? v('shed').split(',').map((x) => x.trim()).filter(Boolean) : [],
    escalate: v('escalate_to') ? { after: opt('escalate_after') || 0, to: v('escalate_to') } : null,
  };
}

async function alertsView() {
  const got = await api('GET', '/api/alerts');
  const admin = can('admin');
  const active = h('tbody', { id: 'active-alerts' });
  const showActive = (list) => {
    active.replaceChildren(...list.map((a) => h('tr', { class: `sev-${a.level}` },
      h('td', {}, a.rule), h('td', {}, a.subject), h('td', {}, a.level), h('td', { class: 'num' }, fixed(a.value, 3)), h('td', { class: 'num' }, `${fixed(a.since, 0)} s`))));
    if (!list.length) active.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No alert is raised.')));
  };
  showActive(got.active);
  const rules = h('div', { id: 'rules' }, ...got.rules.map((r) => ruleRow(r, admin)));
  const out = h('p', { id: 'rules-result' });
  const form = h('form', { id: 'alert-rules' }, rules,
    admin ? h('div', { class: 'buttons' },
      h('button', { type: 'button', id: 'add-rule', onclick: () => rules.append(ruleRow(null, true)) }, 'Add rule'),
      h('button', { type: 'submit', class: 'primary', id: 'save-rules' }, 'Save rules')) : h('p', { class: 'muted' }, 'Only an admin changes alert rules.'),
    out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PUT', '/api/alerts', [...rules.querySelectorAll('.rule')].map(readRule));
      message(out, 'Saved; in force from the next reading.', true);
    } catch (e) { message(out, e.message); }
  });
  setView('Alerts',
    h('h2', {}, 'Raised now'),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Rule', 'Subject', 'Level', 'Value', 'Since (site clock)'].map((t) => h('th', {}, t)))), active)),
    h('h2', {}, 'Rules'),
    h('p', { class: 'muted' }, 'A level is raised once its threshold has been crossed for "For"; it clears once the value is back past the threshold by the hysteresis for "Clear after". Rules are evaluated on each stored reading.'),
    form);
  onStatus = (s) => showActive(s.alerts || []);
}

// --- events --------------------------------------------------------------------------------

async function eventsView() {
  const f = h('form', { class: 'filters', id: 'event-filter' },
    h('label', {}, 'Severity', h('select', { name: 'severity' }, ...['info', 'warning', 'alarm', 'critical'].map((s) => h('option', { value: s }, s + ' and worse')))),
    h('label', {}, 'Kind', h('input', { name: 'kind', placeholder: 'trip, transfer, …', size: 12 })),
    h('label', {}, 'Subject', h('input', { name: 'subject', placeholder: 'fridge, main, …', size: 12 })),
    h('label', {}, 'From', h('input', { name: 'from', type: 'datetime-local' })),
    h('label', {}, 'To', h('input', { name: 'to', type: 'datetime-local' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'unacked' }), 'Unacknowledged only'),
    h('button', { class: 'primary', type: 'submit' }, 'Show'));
  const body = h('tbody', {});
  const out = h('p', {});
  const load = async () => {
    const q = new URLSearchParams({ severity: f.severity.value, limit: 500 });
    for (const k of ['kind', 'subject']) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    for (const k of ['from', 'to']) if (f[k].value) q.set(k, new Date(f[k].value).getTime());
    if (f.unacked.checked) q.set('unacked', 'true');
    const [rows, faults] = await Promise.all([api('GET', '/api/events?' + q), api('GET', '/api/faults?limit=1000')]);
    // A trip's fault record, where the site samples.
    const recordOf = (e) => (e.kind === 'trip' ? faults.find((f) => f.trips.some(([who, t]) => who === e.subject && Math.abs(t - e.t) <= 1)) : null);
    body.replaceChildren(...rows.map((e) => h('tr', { class: `sev-${e.severity}` },
      h('td', { class: 'num' }, when(e.t)), h('td', {}, e.severity), h('td', {}, e.subject), h('td', {}, e.kind),
      h('td', { title: Object.entries(e.detail || {}).map(([k, v]) => `${k}: ${typeof v === 'number' ? +v.toFixed(3) : JSON.stringify(v)}`).join(', ') }, e.text,
        recordOf(e) ? [' ', h('a', { href: `#/fault/${recordOf(e).id}`, class: 'fault-link' }, 'fault record')] : null),
      h('td', {}, e.acked_by ? `${e.acked_by}, ${when(e.acked_at)}` :
        (can('operator') && e.severity !== 'info' ? h('button', { onclick: async () => { try { await api('POST', `/api/events/${e.id}/ack`, {}); await load(); } catch (x) { message(out, x.message); } } }, 'Acknowledge') : '')))));
    if (!rows.length) body.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No events match.')));
  };
  f.addEventListener('submit', async (ev) => { ev.preventDefault(); try { await load(); } catch (e) { message(out, e.message); } });
  setView('Events', f, out, h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Time', 'Severity', 'Subject', 'Event', 'What happened', 'Acknowledged'].map((t) => h('th', {}, t)))), body)));
  await load();
}

// --- fault records -------------------------------------------------------------------------

// One fault record: its voltages and currents around the trip (time from the trigger, ms),
// the trigger marked; each channel's RMS over the cycle before the trigger and its peak after;
// the COMTRADE files to download.
async function faultView(id) {
  const rec = await api('GET', `/api/faults/${id}`);
  const trigger = rec.trips[0][1];
  const n = rec.channels.length ? rec.channels[0].samples.length : 0;
  const x = Array.from({ length: n }, (_, k) => (rec.start_s + k / rec.rate - trigger) * 1000);
  const perCycle = Math.round(rec.rate / rec.frequency);
  const at = Math.max(0, x.findIndex((t) => t >= 0));
  const rms = (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0) / Math.max(1, v.length));
  const marker = (u) => {
    const left = u.valToPos(0, 'x', true);
    const c = u.ctx;
    c.save(); c.strokeStyle = '#c62828'; c.setLineDash([4, 4]); c.beginPath();
    c.moveTo(left, u.bbox.top); c.lineTo(left, u.bbox.top + u.bbox.height); c.stroke(); c.restore();
  };
  const colours = ['#1565c0', '#c77c02', '#1e8e3e', '#6a1b9a', '#c62828', '#00838f', '#5b6676'];
  const chart = (unit, box) => {
    const chans = rec.channels.filter((c) => c.unit === unit);
    new uPlot({
      width: Math.max(280, box.clientWidth - 12), height: 240,
      scales: { x: { time: false } },
      axes: [{ label: 'ms from the trip' }, { label: unit }],
      series: [{ label: 'ms' }, ...chans.map((c, k) => ({ label: c.name, stroke: colours[k % colours.length], width: 1.2 }))],
      hooks: { draw: [marker] },
    }, [x, ...chans.map((c) => c.samples)], box);
  };
  const vBox = h('div', { class: 'chart', id: 'fault-v' });
  const iBox = h('div', { class: 'chart', id: 'fault-i' });
  const rows = rec.channels.map((c) => h('tr', {}, h('td', {}, c.name),
    h('td', { class: 'num' }, `${fixed(rms(c.samples.slice(Math.max(0, at - perCycle), at)), 2)} ${c.unit}`),
    h('td', { class: 'num' }, `${fixed(c.samples.slice(at).reduce((m, v) => Math.max(m, Math.abs(v)), 0), 1)} ${c.unit}`)));
  setView(`Fault record ${id}`,
    h('p', {}, rec.trips.map(([who, t]) => `${who} tripped at ${new Date(t * 1000).toLocaleString()}`).join('; '),
      ` · ${rec.rate} samples/s, ${fixed(n / rec.rate * 1000, 0)} ms`),
    h('div', { class: 'buttons' },
      h('a', { href: `/api/faults/${id}/cfg`, id: 'fault-cfg', download: '' }, 'COMTRADE .cfg'), ' ',
      h('a', { href: `/api/faults/${id}/dat`, id: 'fault-dat', download: '' }, 'COMTRADE .dat')),
    h('h2', {}, 'Voltages'), vBox, h('h2', {}, 'Currents'), iBox,
    h('div', { class: 'scroll' }, h('table', { id: 'fault-table' }, h('thead', {}, h('tr', {}, ...['Channel', 'RMS, the cycle before', 'Peak after'].map((t) => h('th', {}, t)))), h('tbody', {}, rows))));
  chart('V', vBox);
  chart('A', iBox);
}

// --- history -------------------------------------------------------------------------------

async function historyView() {
  const channels = await api('GET', '/api/channels');
  const pick = h('select', { id: 'channel', name: 'channel' }, ...channels.map((c) => h('option', { value: c.name, 'data-unit': c.unit }, `${c.name} (${c.unit})`)));
  const also = h('select', { id: 'channel2', name: 'channel2' }, h('option', { value: '' }, '—'), ...channels.map((c) => h('option', { value: c.name, 'data-unit': c.unit }, `${c.name} (${c.unit})`)));
  const table = h('table', { id: 'history-table', class: 'compact' });
  const tableBox = h('div', { class: 'scroll tall', hidden: true }, table);
  const showTable = h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'history-as-table', onchange: (e) => { tableBox.hidden = !e.target.checked; } }), 'Table');
  const preset = h('select', { id: 'range' }, ...RANGES.map(([t, ms]) => h('option', { value: ms, selected: ms === 3600e3 }, t)));
  const fromIn = h('input', { type: 'datetime-local', id: 'from' });
  const toIn = h('input', { type: 'datetime-local', id: 'to' });
  const box = h('div', { class: 'chart', id: 'history-chart' });
  const link = h('a', { id: 'export', download: 'gridtwin-export.csv' }, 'Export CSV');
  const out = h('p', {});
  let range = [clockNow() - 3600e3, clockNow()];
  const local = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3); return d.toISOString().slice(0, 16); };
  const redraw = async () => {
    fromIn.value = local(range[0]); toIn.value = local(range[1]);
    const chosen = [pick, also].filter((p) => p.value).map((p) => ({ name: p.value, unit: p.selectedOptions[0].dataset.unit }));
    link.href = exportLink(chosen.map((c) => c.name), range[0], range[1]);
    try { await drawChart(box, chosen, range[0], range[1], (a, b) => { range = [a, b]; redraw(); }, table); } catch (e) { message(out, e.message); }
  };
  pick.addEventListener('change', redraw);
  also.addEventListener('change', redraw);
  preset.addEventListener('change', () => { const ms = Number(preset.value); range = [clockNow() - ms, clockNow()]; redraw(); });
  const apply = h('button', { onclick: () => { const a = new Date(fromIn.value).getTime(); const b = new Date(toIn.value).getTime(); if (a < b) { range = [a, b]; redraw(); } else message(out, 'From must be before To.'); } }, 'Apply');
  setView('History', h('div', { class: 'filters' }, h('label', {}, 'Channel', pick), h('label', {}, 'And', also), h('label', {}, 'Last', preset), h('label', {}, 'From', fromIn), h('label', {}, 'To', toIn), apply, link),
    h('p', { class: 'muted' }, 'Drag across the chart to zoom into a range. Readings are kept at 1 s, then as 1-minute and hourly means with their min and max; events of warning and worse are marked.'), showTable, out, box, tableBox);
  await redraw();
}

// --- energy --------------------------------------------------------------------------------

const PERIODS = { today: 'Today', yesterday: 'Yesterday', week: 'This week', month: 'This month' };

// Energy and cost from the site's 15-minute ledger: per register and period, daily bars with
// their table, time-of-use bands and the month's peak demand; an admin sets the tariff.
async function energyView() {
  const admin = can('admin');
  const cards = h('div', { class: 'grid', id: 'energy-cards' });
  const table = h('table', { id: 'energy-table' });
  const bands = h('tbody', { id: 'energy-bands' });
  const box = h('div', { class: 'chart', id: 'energy-chart' });
  const daysHead = h('thead', {});
  const daysTable = h('tbody', { id: 'energy-days' });
  const out = h('p', { id: 'tariff-result' });
  const tariffBox = h('textarea', { id: 'tariff', rows: 10, cols: 70, spellcheck: false, disabled: !admin });
  const money = (e, x) => (x == null ? '' : `${fixed(x, 2)} ${e.currency}`);
  let drawn = null;
  const show = (e) => {
    const billed = e.registers.find((r) => r.name === e.billed);
    const at = (r, i) => (r ? r.amounts[i] : { kwh: null, cost: null });
    cards.replaceChildren(
      ...[0, 3].map((i) => h('div', { class: 'card' }, h('h3', {}, `${PERIODS[e.periods[i].name]}, ${e.billed || 'site'}`),
        h('div', { class: 'big', id: `energy-${e.periods[i].name}` }, `${fixed(at(billed, i).kwh, 2)} kWh`),
        h('div', { class: 'muted' }, money(e, at(billed, i).cost)))),
      h('div', { class: 'card' }, h('h3', {}, 'Peak 15-minute demand this month'),
        h('div', { class: 'big', id: 'energy-peak' }, e.peak ? `${fixed(e.peak.kw, 2)} kW` : '–'),
        h('div', { class: 'muted' }, e.peak ? `from ${when(e.peak.from)}` : 'no demand yet', e.demand_charge != null ? ` · charge ${money(e, e.demand_charge)}` : '')));
    table.replaceChildren(
      h('thead', {}, h('tr', {}, h('th', {}, 'Register'), ...e.periods.map((p) => h('th', { class: 'num' }, PERIODS[p.name])), h('th', { class: 'num' }, 'Counter'))),
      h('tbody', {}, ...e.registers.map((r) => h('tr', { 'data-register': r.name },
        h('td', {}, r.name),
        ...r.amounts.map((a) => h('td', { class: 'num' }, `${fixed(a.kwh, 3)} kWh`, a.cost != null ? h('div', { class: 'muted' }, money(e, a.cost)) : null)),
        h('td', { class: 'num', 'data-total': r.total_kwh }, `${fixed(r.total_kwh, 3)} kWh`)))));
    bands.replaceChildren(...e.bands.map((b) => h('tr', {}, h('td', {}, b.name), h('td', { class: 'num' }, `${fixed(b.price, 4)} ${e.currency}/kWh`),
      h('td', { class: 'num' }, `${fixed(b.kwh, 3)} kWh`), h('td', { class: 'num' }, money(e, b.cost)))));
    if (!e.bands.length) bands.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, e.currency ? 'Nothing billed this month yet.' : 'No tariff is set.')));
    // Daily bars of the sources (a feeder: its source), with the same numbers as a table.
    const sources = e.registers.map((r, i) => [r.name, i]).filter(([n]) => !n.includes('/'));
    const x = e.days.map((d) => d.from / 1000);
    const ys = sources.map(([, i]) => e.days.map((d) => d.amounts[i].kwh));
    daysHead.replaceChildren(h('tr', {}, h('th', {}, 'Day'), ...sources.map(([n]) => h('th', { class: 'num' }, n)), h('th', { class: 'num' }, 'Cost')));
    daysTable.replaceChildren(...e.days.slice().reverse().map((d) => h('tr', {}, h('td', {}, d.date),
      ...sources.map(([, i]) => h('td', { class: 'num' }, `${fixed(d.amounts[i].kwh, 3)} kWh`)),
      h('td', { class: 'num' }, e.billed ? money(e, d.amounts[e.registers.findIndex((r) => r.name === e.billed)].cost) : ''))));
    const key = JSON.stringify([x, ys]);
    if (key === drawn) return;
    drawn = key;
    const colours = ['#1565c0', '#c77c02', '#1e8e3e'];
    // One bar per source and day: a single source centred on its day, two either side of it.
    const bars = (k) => uPlot.paths.bars({ size: [sources.length > 1 ? 0.4 : 0.7, 60], align: sources.length > 1 ? (k ? -1 : 1) : 0 });
    box.replaceChildren();
    new uPlot({
      width: Math.max(280, box.clientWidth - 12), height: 240,
      scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] } },
      axes: [{}, { label: 'kWh' }],
      series: [{}, ...sources.map(([n], k) => ({ label: `${n} (kWh)`, fill: colours[k % 3] + 'cc', stroke: colours[k % 3], paths: bars(k), points: { show: false } }))],
    }, [x, ...ys], box);
  };
  const refresh = async () => {
    try { show(await api('GET', '/api/energy?days=31')); } catch (e) { message(out, e.message); }
  };
  const settings = admin ? await api('GET', '/api/settings') : null;
  tariffBox.value = JSON.stringify(settings ? settings.tariff : null, null, 2);
  const save = h('button', { class: 'primary', id: 'save-tariff', disabled: !admin, onclick: async () => {
    let tariff;
    try { tariff = JSON.parse(tariffBox.value); } catch (e) { message(out, `Tariff: ${e.message}`); return; }
    try {
      const cfg = await api('GET', '/api/settings');
      await api('PUT', '/api/settings', { ...cfg, tariff });
      message(out, 'Saved; every interval is priced at it now.', true);
      await refresh();
    } catch (e) { message(out, e.message); }
  } }, 'Save tariff');
  setView('Energy', cards,
    h('h2', {}, 'By register'),
    h('p', { class: 'muted' }, 'Each register’s rise per 15-minute interval, as stored beside its counter; cost is each interval’s energy at the price when it starts. Days and weeks are the site’s local ones; weeks start on Monday.'),
    h('div', { class: 'scroll' }, table),
    h('h2', {}, 'Daily'), box,
    h('div', { class: 'scroll tall' }, h('table', {}, daysHead, daysTable)),
    h('h2', {}, 'Time of use this month'),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Band', 'Price', 'Energy', 'Cost'].map((t) => h('th', {}, t)))), bands)),
    h('h2', {}, 'Tariff'),
    h('p', { class: 'muted' }, admin ? 'JSON: currency, base (per kWh), windows [{name, from, to (HH:MM on quarter hours), price, days: All|Weekdays|Weekend}], demand (per kW of the month’s peak). null: the scenario’s tariff.' : 'Only an admin changes the tariff.'),
    tariffBox, h('div', { class: 'buttons' }, save), out);
  await refresh();
  // The ledger moves with the site: read it again every few seconds while the page is open.
  let last = Date.now();
  onStatus = () => { if (Date.now() - last > 5000) { last = Date.now(); refresh(); } };
}

// --- reports --------------------------------------------------------------------------------

// The site's reports of a day, week or month: those written (by the schedule, or now), one
// written now by an operator, and the schedule an admin sets.
async function reportsView() {
  const [list, cfg] = await Promise.all([api('GET', '/api/reports'), can('admin') ? api('GET', '/api/settings') : null]);
  const out = h('p', { id: 'report-result' });
  const rows = list.reports.map((r) => h('tr', {},
    h('td', {}, h('a', { href: `/api/reports/${encodeURIComponent(r.label)}`, target: '_blank', rel: 'noopener' }, r.label)),
    h('td', {}, r.period), h('td', { class: 'num' }, when(r.from)), h('td', { class: 'num' }, when(r.until)), h('td', { class: 'num' }, when(r.written))));
  const table = h('table', { id: 'reports' },
    h('thead', {}, h('tr', {}, ...['Report', 'Period', 'From', 'Until', 'Written'].map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows));
  const kids = [list.engine ? '' : h('p', { class: 'error' }, 'This build has no report engine: copy the data directory to a build with one and run gridtwin report --data DIR.'),
    h('div', { class: 'scroll' }, list.reports.length ? table : h('p', { class: 'muted' }, 'No report yet: the schedule writes each period’s when it ends.'))];
  if (can('operator')) {
    const form = h('form', { class: 'inline', id: 'write-report' },
      h('label', {}, 'Period', h('select', { name: 'period' }, ...['day', 'week', 'month'].map((p) => h('option', { value: p }, p)))),
      h('label', {}, 'A day of it (empty: the current one, so far)', h('input', { name: 'date', type: 'date' })),
      h('button', { class: 'primary', type: 'submit' }, 'Write now'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { period: form.period.value };
      if (form.date.value) body.date = form.date.value;
      message(out, 'Writing…', true);
      try { const r = await api('POST', '/api/reports', body); await reportsView(); message(document.getElementById('report-result'), `${r.label} written.`, true); } catch (e) { message(out, e.message); }
    });
    kids.push(h('h2', {}, 'Write one now'), form);
  }
  if (cfg) {
    const boxes = ['day', 'week', 'month'].map((p) => h('label', {}, h('input', { type: 'checkbox', name: p, checked: cfg.reports.includes(p) }), ` ${p}`));
    const sched = h('form', { class: 'inline', id: 'report-schedule' }, ...boxes, h('button', { class: 'primary', type: 'submit' }, 'Save schedule'));
    sched.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const reports = ['day', 'week', 'month'].filter((p) => sched[p].checked);
      try { await api('PUT', '/api/settings', { ...cfg, reports }); message(out, 'Schedule saved.', true); } catch (e) { message(out, e.message); }
    });
    kids.push(h('h2', {}, 'Schedule'), h('p', { class: 'muted' }, 'Each checked period’s report is written when it ends.'), sched);
  } else {
    kids.push(h('p', { class: 'muted' }, `Written when each ends: ${list.schedule.join(', ') || 'none'}.`));
  }
  setView('Reports', out, ...kids);
}

// --- users and settings --------------------------------------------------------------------

async function usersView() {
  const [users, audit, cfg] = await Promise.all([api('GET', '/api/users'), api('GET', '/api/audit'), api('GET', '/api/settings')]);
  const saved = h('p', { id: 'service-result' });
  const svc = h('form', { class: 'inline', id: 'service' },
    h('label', {}, '1 s readings kept, hours', h('input', { name: 'raw', type: 'number', min: 1, step: 'any', value: cfg.retention.raw_s / 3600 })),
    h('label', {}, '1-minute means kept, days', h('input', { name: 'minute', type: 'number', min: 1, step: 'any', value: cfg.retention.minute_s / 86400 })),
    h('label', { class: 'wide' }, 'Notifications (JSON: smtp, groups, default_group, events, quiet_hours, rate_limit; see the API docs; the mail password is kept when left out)',
      h('textarea', { name: 'notifications', id: 'notifications', rows: 12, cols: 80, spellcheck: false }, JSON.stringify(cfg.notifications, null, 2))),
    h('button', { class: 'primary', type: 'submit' }, 'Save'),
    h('button', { type: 'button', id: 'test-notify', onclick: async () => {
      try {
        const r = await api('POST', '/api/notify/test', {});
        message(saved, r.outcomes.map((o) => (o.error ? `${o.target}: FAILED, ${o.error}` : `${o.target}: sent in ${o.ms.toFixed(0)} ms`)).join('; '), r.outcomes.every((o) => !o.error));
      } catch (e) { message(saved, e.message); }
    } }, 'Send a test'), saved);
  svc.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let notifications;
    try { notifications = JSON.parse(svc.notifications.value); } catch (e) { message(saved, `Notifications: ${e.message}`); return; }
    const body = {
      ...cfg,
      retention: { raw_s: Math.round(Number(svc.raw.value) * 3600), minute_s: Math.round(Number(svc.minute.value) * 86400) },
      notifications,
    };
    try { await api('PUT', '/api/settings', body); message(saved, 'Saved; in force now.', true); } catch (e) { message(saved, e.message); }
  });
  const out = h('p', {});
  const add = h('form', { class: 'inline', id: 'add-user' },
    h('label', {}, 'Name', h('input', { name: 'name', required: true })),
    h('label', {}, 'Role', h('select', { name: 'role' }, ...['viewer', 'operator', 'admin'].map((r) => h('option', { value: r }, r)))),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', minlength: 10, required: true })),
    h('button', { class: 'primary', type: 'submit' }, 'Add user'));
  add.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/api/users', { name: add.name.value, role: add.role.value, password: add.password.value }); await usersView(); } catch (e) { message(out, e.message); }
  });
  setView('Users & settings', out,
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'User'), h('th', {}, 'Role'), h('th', {}, 'Since'), h('th', {}))),
      h('tbody', {}, ...users.map((u) => h('tr', {}, h('td', {}, u.name), h('td', {}, u.role), h('td', {}, when(u.created)),
        h('td', {}, u.name === me.name ? '' : h('button', { onclick: async () => { if (!window.confirm(`Remove ${u.name}?`)) return; try { await api('DELETE', `/api/users/${encodeURIComponent(u.name)}`); await usersView(); } catch (e) { message(out, e.message); } } }, 'Remove'))))))),
    add,
    h('h2', {}, 'Storage and notifications'), svc,
    h('h2', {}, 'Audit log'),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Time', 'User', 'Action', 'Target', 'Detail'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...audit.map((a) => h('tr', {}, h('td', { class: 'num' }, when(a.t)), h('td', {}, a.user), h('td', {}, a.action), h('td', {}, a.target), h('td', { class: 'muted' }, a.detail)))))));
}
