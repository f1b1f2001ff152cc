// The page: draws the simulated cluster that the WebAssembly core runs, and turns clicks into
// commands. Everything that decides anything lives in the core; this file only asks and draws.

import init, { Cluster, bugs, message_kinds, phases, presets } from './pkg/zabkeeper_wasm.js';

const $ = (id) => document.getElementById(id);

// The message families the core names (message_kinds()), as the diagram colours them.
const FAMILY_COLOURS = {
  votes: '#8e44ad', discovery: '#e67e22', sync: '#16a085', proposal: '#2471a3', ack: '#27ae60',
  commit: '#145a32', ping: '#b3b6b7', 'forward / sync': '#a04000', 'truncate / snap': '#c0392b',
};
// Filled from the core once it is loaded: each scenario's title and story, the text for each
// phase, each message kind's family. The core is their one source.
let STORIES = {};
let PHASES = {};
let KIND_FAMILY = {};
const ROLE_COLOURS = { LEADING: '#f5b041', FOLLOWING: '#aed6f1', OBSERVING: '#d7bde2', LOOKING: '#f8f9f9', DOWN: '#566573' };
const colour = (kind) => FAMILY_COLOURS[KIND_FAMILY[kind]] || '#7f8c8d';
const quiet = (kind) => kind === 'PING' || kind === 'PONG' || kind === 'TOUCH';

// ---- the run ----

let cluster = null;
let state = null;
let playing = false;
let horizon = 0;            // the furthest step reached (the scrub bar's end)
let picked = new Set();     // servers picked for a split
let trace = [];             // recent trace lines (objects from the core)
let traceStart = 0;         // the index of trace[0] in the whole trace
const TRACE_KEEP = 6000;
let verdict = [];
let lastVerdictAt = 0;
let lastPanelsAt = 0;
let frames = [];            // frame timestamps, for the fps figure
let focus = null;           // the first violation, if any
let lastFrame = null;

function setStatus(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.className = bad ? 'bad' : '';
}

function tryDo(what, f) {
  try {
    const r = f();
    refresh(true);
    return r;
  } catch (e) {
    setStatus(`${what}: ${e}`, true);
    return undefined;
  }
}

function speed() {
  const v = Number($('speed').value);
  return Math.round(10 ** (1 + (v / 100) * 3)); // 10 .. 10,000 simulated ms per second
}

function start(scenario, seed, voters, observers, log, step) {
  if (cluster) cluster.free();
  cluster = scenario === 'custom' ? new Cluster(seed, voters, observers, $('bug').value) : Cluster.preset(scenario, seed);
  if (log) cluster.set_log(log);
  trace = [];
  traceStart = 0;
  verdict = [];
  picked.clear();
  horizon = 0;
  if (step) cluster.seek(step);
  const [title, text] = STORIES[scenario] || STORIES.custom;
  $('story-title').textContent = title;
  $('story').textContent = text;
  refresh(true);
  setStatus(`${scenario} on seed ${seed}`);
}

function startFromForm() {
  const seed = Number($('seed').value) >>> 0;
  start($('scenario').value, seed, Number($('voters').value), Number($('observers').value), null, 0);
}

// Pulls new trace lines (only the recent ones are kept).
function pullTrace() {
  const len = state.trace_len;
  let end = traceStart + trace.length;
  if (len < end) {
    // Scrubbed back: the run is deterministic, so the prefix we hold is still right.
    if (len <= traceStart) { trace = []; traceStart = Math.max(0, len - TRACE_KEEP); } else { trace.length = len - traceStart; }
    end = traceStart + trace.length;
  }
  if (len - end > TRACE_KEEP) { trace = []; traceStart = len - TRACE_KEEP; end = traceStart; }
  if (len > end) trace.push(...JSON.parse(cluster.trace(end, len - end)));
  if (trace.length > TRACE_KEEP * 1.5) {
    const cut = trace.length - TRACE_KEEP;
    trace.splice(0, cut);
    traceStart += cut;
  }
}

function refresh(panels) {
  state = JSON.parse(cluster.state());
  horizon = Math.max(horizon, state.steps);
  pullTrace();
  const now = performance.now();
  if (panels || now - lastVerdictAt > 1000) {
    verdict = JSON.parse(cluster.verdict());
    lastVerdictAt = now;
  }
  drawCluster();
  drawSpacetime();
  if (panels || now - lastPanelsAt > 200) {
    lastPanelsAt = now;
    drawPanels();
  }
}

function frame(t) {
  frames.push(t);
  if (frames.length > 600) frames.splice(0, frames.length - 600);
  if (lastFrame !== null && playing && cluster) {
    const dt = Math.min(t - lastFrame, 100);
    cluster.run_for((dt * speed()) / 1000, 500000);
  }
  lastFrame = t;
  if (cluster) refresh(false);
  requestAnimationFrame(frame);
}

// ---- drawing: the cluster ----

function positions(n, w, h) {
  const r = Math.min(w, h) / 2 - 60;
  return Array.from({ length: n }, (_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return [w / 2 + r * Math.cos(a), h / 2 + r * Math.sin(a)];
  });
}

function drawCluster() {
  const c = $('cluster');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const servers = state.servers;
  const at = positions(servers.length, c.width, c.height);
  const index = (id) => servers.findIndex((s) => s.id === id);
  // Links: grey, or red dashes where the network is cut.
  const blocked = new Set(state.blocked.map(([a, b]) => `${a}-${b}`));
  for (let i = 0; i < servers.length; i++) {
    for (let j = i + 1; j < servers.length; j++) {
      const a = servers[i].id, b = servers[j].id;
      const ab = blocked.has(`${a}-${b}`), ba = blocked.has(`${b}-${a}`);
      g.beginPath();
      g.moveTo(...at[i]);
      g.lineTo(...at[j]);
      g.setLineDash(ab || ba ? [6, 5] : []);
      g.strokeStyle = ab || ba ? '#e74c3c' : '#e5e8e8';
      g.lineWidth = ab || ba ? 1.5 : 1;
      g.stroke();
    }
  }
  g.setLineDash([]);
  // Messages in flight.
  const now = state.now_ms;
  for (const m of state.in_flight) {
    const i = index(m.from), j = index(m.to);
    if (i < 0 || j < 0) continue;
    const span = Math.max(1, m.at_ms - m.sent_ms);
    const f = Math.min(1, Math.max(0, (now - m.sent_ms) / span));
    const x = at[i][0] + (at[j][0] - at[i][0]) * f;
    const y = at[i][1] + (at[j][1] - at[i][1]) * f;
    g.beginPath();
    g.arc(x, y, quiet(m.kind) ? 3 : 5, 0, 2 * Math.PI);
    g.fillStyle = colour(m.kind);
    g.fill();
    if (!quiet(m.kind) && state.in_flight.length < 40) {
      g.font = '9px sans-serif';
      g.fillStyle = '#34495e';
      g.fillText(m.kind, x + 6, y - 4);
    }
  }
  // Servers.
  servers.forEach((s, i) => {
    const [x, y] = at[i];
    g.beginPath();
    g.arc(x, y, 36, 0, 2 * Math.PI);
    g.fillStyle = ROLE_COLOURS[s.role] || '#fff';
    g.fill();
    g.lineWidth = picked.has(s.id) ? 4 : 1.5;
    g.strokeStyle = picked.has(s.id) ? '#e74c3c' : '#566573';
    g.setLineDash(s.role === 'LOOKING' ? [4, 3] : []);
    g.stroke();
    g.setLineDash([]);
    g.textAlign = 'center';
    g.fillStyle = s.up ? '#1b2631' : '#f8f9f9';
    g.font = 'bold 14px sans-serif';
    g.fillText(`s${s.id}${s.observer ? ' (obs)' : ''}`, x, y - 14);
    g.font = '10px sans-serif';
    g.fillText(s.role, x, y);
    g.fillText(`epoch ${s.up ? s.epoch : s.current_epoch}`, x, y + 12);
    g.fillText(s.up ? `${s.last_zxid} / ${s.committed}` : `disk ${s.durable}`, x, y + 24);
    g.textAlign = 'start';
  });
  c.dataset.leader = String((servers.find((s) => s.role === 'LEADING') || {}).id || '');
}

function serverAt(x, y) {
  const c = $('cluster');
  const at = positions(state.servers.length, c.width, c.height);
  const i = at.findIndex(([a, b]) => (a - x) ** 2 + (b - y) ** 2 <= 38 * 38);
  return i < 0 ? null : state.servers[i];
}

// ---- drawing: the space-time diagram ----

function drawSpacetime() {
  const c = $('spacetime');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const servers = state.servers;
  const left = 34, right = c.width - 8;
  const lane = (id) => 14 + ((c.height - 28) * (servers.findIndex((s) => s.id === id) + 0.5)) / servers.length;
  const windowMs = Number($('zoom').value);
  const t1 = state.now_ms, t0 = t1 - windowMs;
  const x = (t) => left + ((t - t0) / windowMs) * (right - left);
  g.font = '11px sans-serif';
  for (const s of servers) {
    g.strokeStyle = s.up ? '#d5d8dc' : '#566573';
    g.lineWidth = s.up ? 1 : 3;
    g.beginPath();
    g.moveTo(left, lane(s.id));
    g.lineTo(right, lane(s.id));
    g.stroke();
    g.fillStyle = '#1b2631';
    g.fillText(`s${s.id}`, 4, lane(s.id) + 4);
  }
  const sends = new Map();
  const bad = verdict.concat(state.violations);
  for (const l of trace) {
    if (l.at < t0 - windowMs) continue;
    if (l.what === 'send' || l.what === 'dup') {
      sends.set(l.id, l);
    } else if ((l.what === 'deliver' || l.what === 'drop') && sends.has(l.id)) {
      const s = sends.get(l.id);
      const from = s.server, to = l.what === 'deliver' ? l.server : s.peer;
      g.strokeStyle = colour(l.kind);
      g.globalAlpha = quiet(l.kind) ? 0.35 : 0.9;
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(x(s.at), lane(from));
      if (l.what === 'drop') {
        const mx = x((s.at + l.at) / 2 || s.at + 5), my = (lane(from) + lane(to)) / 2;
        g.lineTo(mx, my);
        g.stroke();
        g.strokeStyle = '#e74c3c';
        g.beginPath();
        g.moveTo(mx - 3, my - 3); g.lineTo(mx + 3, my + 3); g.moveTo(mx + 3, my - 3); g.lineTo(mx - 3, my + 3);
      } else {
        g.lineTo(x(l.at), lane(to));
      }
      g.stroke();
      g.globalAlpha = 1;
    } else if (l.what === 'drop' && l.server !== 0) {
      const xx = x(l.at), yy = lane(l.server);
      g.strokeStyle = '#e74c3c';
      g.beginPath();
      g.moveTo(xx - 3, yy - 3); g.lineTo(xx + 3, yy + 3); g.moveTo(xx + 3, yy - 3); g.lineTo(xx - 3, yy + 3);
      g.stroke();
    } else if (l.what === 'crash' || l.what === 'restart' || l.what === 'state') {
      g.fillStyle = l.what === 'crash' ? '#c0392b' : l.what === 'restart' ? '#27ae60' : (ROLE_COLOURS[l.kind] || '#999');
      g.strokeStyle = '#34495e';
      g.beginPath();
      g.arc(x(l.at), lane(l.server), 5, 0, 2 * Math.PI);
      g.fill();
      g.stroke();
    } else if (l.what === 'partition' || l.what === 'heal') {
      g.fillStyle = l.what === 'partition' ? 'rgba(231,76,60,0.15)' : 'rgba(39,174,96,0.15)';
      g.fillRect(x(l.at) - 2, 0, 4, c.height);
    }
  }
  // Messages still in flight: a line up to now.
  for (const m of state.in_flight) {
    const s = sends.get(m.id);
    if (!s) continue;
    const f = Math.min(1, (t1 - m.sent_ms) / Math.max(1, m.at_ms - m.sent_ms));
    g.strokeStyle = colour(m.kind);
    g.globalAlpha = quiet(m.kind) ? 0.35 : 0.9;
    g.setLineDash([3, 3]);
    g.beginPath();
    g.moveTo(x(m.sent_ms), lane(m.from));
    g.lineTo(x(t1), lane(m.from) + (lane(m.to) - lane(m.from)) * f);
    g.stroke();
    g.setLineDash([]);
    g.globalAlpha = 1;
  }
  // Violations: a red band on the offending server's lane at that moment.
  for (const v of bad) {
    if (v.at_ms < t0) continue;
    g.fillStyle = 'rgba(192,57,43,0.35)';
    const yy = v.server ? lane(v.server) - 10 : 0;
    g.fillRect(x(v.at_ms) - 4, yy, 8, v.server ? 20 : c.height);
  }
  const scrub = $('scrub');
  scrub.max = String(horizon);
  if (document.activeElement !== scrub) scrub.value = String(state.steps);
}

// ---- the panels ----

function text(tag, value, cls) {
  const e = document.createElement(tag);
  e.textContent = value;
  if (cls) e.className = cls;
  return e;
}

function fillTable(tbody, rows) {
  const frag = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement('tr');
    if (row.cls) tr.className = row.cls;
    for (const cell of row.cells) tr.appendChild(text('td', cell));
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
}

function syncSelect(select, values, labels) {
  const want = values.map(String);
  const have = Array.from(select.options).map((o) => o.value);
  if (want.join() === have.join()) return;
  const keep = select.value;
  select.replaceChildren(...values.map((v, i) => { const o = text('option', labels[i]); o.value = String(v); return o; }));
  if (want.includes(keep)) select.value = keep;
}

function drawPanels() {
  $('now').textContent = String(state.now_ms);
  $('steps').textContent = String(state.steps);
  const servers = state.servers;
  fillTable($('servers').tBodies[0], servers.map((s) => ({
    cls: s.role.toLowerCase(),
    cells: [`s${s.id}${s.observer ? ' (observer)' : ''}`, s.phase ? `${s.role} · ${s.phase}` : s.role,
      String(s.up ? s.epoch : s.current_epoch), s.last_zxid, s.committed || '-', String(s.sessions.length), s.digest.slice(0, 8)],
  })));
  const ids = servers.map((s) => s.id);
  syncSelect($('client-server'), [0, ...ids], ['any server', ...ids.map((id) => `s${id}`)]);
  syncSelect($('tree-server'), ids, ids.map((id) => `s${id}`));
  const manual = state.clients.filter((c) => c.role === 'Manual');
  syncSelect($('call-client'), manual.map((c) => c.id), manual.map((c) => `client ${c.id}`));
  // Clients and their calls.
  const list = document.createDocumentFragment();
  for (const cl of state.clients) {
    const box = document.createElement('div');
    box.className = 'client';
    const where = cl.server ? `s${cl.server}` : '-';
    box.appendChild(text('div', `client ${cl.id} (${cl.role.toLowerCase()}) ${cl.link} to ${where}` +
      `${cl.session ? `, session ${cl.session}` : ''}${cl.queued ? `, ${cl.queued} queued` : ''}`, 'client-head'));
    for (const call of cl.calls.slice(-6)) {
      box.appendChild(text('div', `${call.call} → ${call.status}${call.result ? `: ${call.result}` : ''}`, `call ${call.status}`));
    }
    list.appendChild(box);
  }
  $('clients').replaceChildren(list);
  // One server's tree and log.
  const chosen = servers.find((s) => String(s.id) === $('tree-server').value) || servers[0];
  if (chosen) {
    fillTable($('tree').tBodies[0], chosen.up
      ? chosen.tree.map((n) => ({ cells: [n.path, n.data, String(n.version), n.ephemeral_owner] }))
      : [{ cells: ['(down)', '', '', ''] }]);
    fillTable($('log').tBodies[0], chosen.log.slice(-40).reverse().map((e) => ({
      cls: e.committed ? 'committed' : 'uncommitted',
      cells: [e.zxid, e.what],
    })));
  }
  // The checks.
  const v = $('verdict');
  const seen = new Set();
  const bad = state.violations.concat(verdict).filter((x) => {
    const key = JSON.stringify(x);
    return !seen.has(key) && seen.add(key);
  });
  if (bad.length === 0) {
    v.className = 'ok';
    v.textContent = `No violation: Zab invariants checked at every step; client histories (linearizable writes, ` +
      `no lost acknowledged write, FIFO, read-your-writes, ...) checked against the committed log.`;
  } else {
    v.className = 'bad';
    v.replaceChildren(...bad.slice(0, 3).map((x) => text('div', `${x.invariant} at ${x.at_ms} ms${x.server ? ` on s${x.server}` : ''}: ${x.detail}`)));
  }
  $('verdict-panel').dataset.violations = String(bad.length);
  $('goto-violation').hidden = bad.length === 0;
  focus = bad[0] || null;
  // The phase.
  const leader = servers.find((s) => s.role === 'LEADING');
  let phase = PHASES.election;
  if (leader) phase = PHASES[leader.phase] || phase;
  if (state.notes.length) phase += ` (script: ${state.notes[state.notes.length - 1]})`;
  $('phase').textContent = phase;
  // The trace tail; at a violation, the events of the offending server are marked.
  const mark = (l) => focus && l.at >= focus.at_ms - 500 && (!focus.server || l.server === focus.server || l.peer === focus.server);
  $('trace').textContent = trace.slice(-60).map((l) => `${mark(l) ? '»' : ' '}[${String(l.at).padStart(7)}] ${l.text}`).join('\n');
  $('trace').scrollTop = $('trace').scrollHeight;
}

// ---- controls ----

function togglePlay() {
  playing = !playing;
  $('play').textContent = playing ? 'Pause' : 'Play';
}

function stepOnce() {
  playing = false;
  $('play').textContent = 'Play';
  cluster.step();
  refresh(true);
}

// Runs `ms` simulated milliseconds as fast as possible; returns simulated messages per second.
function fastForward(ms) {
  const before = cluster.messages;
  const t = performance.now();
  cluster.run_for(ms, 50000000);
  const took = (performance.now() - t) / 1000;
  refresh(true);
  const rate = Math.round((cluster.messages - before) / Math.max(took, 1e-6));
  setStatus(`+${ms / 1000} s simulated in ${(took * 1000).toFixed(0)} ms: ${rate.toLocaleString()} messages/s`);
  return { messages: cluster.messages - before, seconds: took, rate };
}

function faults() {
  const drop = Number($('drop').value), dup = Number($('dup').value), lat = Number($('latency').value);
  const low = Math.max(1, Math.round(lat * 0.4));
  $('drop-out').textContent = `${drop} ‰`;
  $('dup-out').textContent = `${dup} ‰`;
  $('latency-out').textContent = `${low}-${lat} ms`;
  tryDo('faults', () => cluster.set_faults(drop, dup, low, lat));
}

function share() {
  const log = cluster.log();
  const params = new URLSearchParams({
    scenario: cluster.scenario, seed: String(cluster.seed), step: String(state.steps),
    voters: $('voters').value, observers: $('observers').value, bug: $('bug').value,
  });
  if (log !== '[]') params.set('log', btoa(log));
  const url = `${location.origin}${location.pathname}#${params}`;
  history.replaceState(null, '', url);
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  setStatus(`Link to this moment: ${url}`);
}

function fromUrl() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (!p.has('scenario')) return false;
  const scenario = p.get('scenario');
  $('scenario').value = scenario;
  $('seed').value = p.get('seed') || '1';
  $('voters').value = p.get('voters') || '5';
  $('observers').value = p.get('observers') || '0';
  $('bug').value = p.get('bug') || '';
  const log = p.has('log') ? atob(p.get('log')) : null;
  start(scenario, Number($('seed').value) >>> 0, Number($('voters').value), Number($('observers').value), log, Number(p.get('step') || 0));
  return true;
}

function wire() {
  const stories = JSON.parse(presets());
  STORIES = Object.fromEntries(stories.map((s) => [s.name, [s.title, s.story]]));
  PHASES = JSON.parse(phases());
  KIND_FAMILY = Object.fromEntries(JSON.parse(message_kinds()).map((k) => [k.kind, k.family]));
  $('scenario').replaceChildren(...stories.map(({ name }) => { const o = text('option', name); o.value = name; return o; }));
  $('bug').replaceChildren(text('option', 'no bug'), ...JSON.parse(bugs()).map((n) => { const o = text('option', n); o.value = n; return o; }));
  $('bug').options[0].value = '';
  $('new').onclick = startFromForm;
  $('scenario').onchange = startFromForm;
  $('share').onclick = share;
  $('play').onclick = togglePlay;
  $('step').onclick = stepOnce;
  $('forward').onclick = () => fastForward(10000);
  $('speed').oninput = () => { $('speed-out').textContent = `${speed()} ms/s`; };
  $('speed').oninput();
  $('heal').onclick = () => tryDo('heal', () => cluster.heal());
  $('crash-leader').onclick = () => tryDo('crash', () => cluster.apply('{"Crash":{"server":"Leader"}}'));
  $('restart-all').onclick = () => tryDo('restart', () => cluster.apply('"RestartAll"'));
  $('isolate').onclick = () => tryDo('isolate', () => cluster.apply('{"Isolate":{"server":"Leader"}}'));
  $('split').onclick = () => {
    if (picked.size === 0) { setStatus('shift-click servers to pick one side first', true); return; }
    const side = [...picked];
    const rest = state.servers.map((s) => s.id).filter((id) => !picked.has(id));
    tryDo('partition', () => cluster.partition(JSON.stringify([side, rest])));
    picked.clear();
  };
  for (const id of ['drop', 'dup', 'latency']) $(id).onchange = faults;
  $('cluster').onclick = (e) => {
    const r = e.target.getBoundingClientRect();
    const s = serverAt(((e.clientX - r.left) * e.target.width) / r.width, ((e.clientY - r.top) * e.target.height) / r.height);
    if (!s) return;
    if (e.shiftKey) {
      if (picked.has(s.id)) picked.delete(s.id); else picked.add(s.id);
      refresh(true);
    } else if (s.up) {
      tryDo('crash', () => cluster.crash(s.id));
    } else {
      tryDo('restart', () => cluster.restart(s.id));
    }
  };
  $('add-client').onclick = () => tryDo('client', () => {
    const id = cluster.add_client('manual', Number($('client-server').value));
    setStatus(`client ${id} added`);
    return id;
  });
  $('add-lock').onclick = () => tryDo('client', () => cluster.add_client('lock', Number($('client-server').value)));
  $('call').onsubmit = (e) => {
    e.preventDefault();
    const client = Number($('call-client').value);
    if (!client) { setStatus('add a client first', true); return; }
    const flags = ($('call-eph').checked ? 'e' : '') + ($('call-seq').checked ? 's' : '');
    tryDo('call', () => cluster.call(client, $('call-op').value, $('call-path').value, $('call-data').value, flags,
      Number($('call-version').value)));
  };
  $('scrub').oninput = (e) => {
    playing = false;
    $('play').textContent = 'Play';
    cluster.seek(Number(e.target.value));
    refresh(true);
  };
  $('tree-server').onchange = () => refresh(true);
  $('goto-violation').onclick = () => {
    if (!focus) return;
    if (playing) togglePlay();
    cluster.seek_ms(focus.at_ms);
    $('zoom').value = '600';
    $('zoom').oninput();
    refresh(true);
    setStatus(`at ${focus.at_ms} ms: ${focus.invariant} on ${focus.server ? `s${focus.server}` : 'the cluster'}; » marks its events`);
  };
  $('zoom').oninput = () => { $('zoom-out').textContent = `${$('zoom').value} ms`; if (cluster) refresh(false); };
  $('zoom').oninput();
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    const keys = {
      ' ': togglePlay, ArrowRight: stepOnce, s: stepOnce, f: () => fastForward(10000),
      h: () => $('heal').onclick(), c: () => $('crash-leader').onclick(), r: () => $('restart-all').onclick(),
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  $('legend').replaceChildren(...Object.entries(FAMILY_COLOURS).map(([name, c]) => {
    const s = text('span', name);
    s.style.setProperty('--c', c);
    return s;
  }));
}

// For tests and the curious: the cluster, the frame rate, the fast-forward rate.
window.zk = {
  get cluster() { return cluster; },
  get state() { return state; },
  play() { if (!playing) togglePlay(); },
  pause() { if (playing) togglePlay(); },
  setSpeed(v) { $('speed').value = String(v); $('speed').oninput(); },
  fps(ms = 2000) {
    const now = performance.now();
    const recent = frames.filter((t) => t > now - ms);
    if (recent.length < 2) return 0;
    return ((recent.length - 1) * 1000) / (recent[recent.length - 1] - recent[0]);
  },
  fastForward,
  start,
};

await init();
wire();
if (!fromUrl()) startFromForm();
requestAnimationFrame(frame);
if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register('sw.js').catch(() => {});
}
document.body.dataset.ready = 'true';
