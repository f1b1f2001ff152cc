// The page in headless Chromium, driven through its UI: start a 5-server cluster, wait for a
// leader, crash the leader by clicking it, see a new leader, restart the old one, write
// through the client panel, see the value on every server, save a screenshot. Then measure
// (not assert) the frame rate of a 7-server cluster and the fast-forward rate, and check that
// the page still loads with the server gone (offline, from its service worker's cache).
//
// Usage: node page-test.mjs [www dir] [output dir]   (CHROMIUM=/path overrides the browser)

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const www = path.resolve(process.argv[2] || path.join(here, '../../host-wasm/www'));
const out = path.resolve(process.argv[3] || path.join(here, '../../target/browser'));
fs.mkdirSync(out, { recursive: true });

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png' };

function serve(dir) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = path.join(dir, decodeURIComponent(url.pathname));
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    if (file.endsWith('/')) file = path.join(file, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' }).end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function check(ok, what) {
  if (!ok) throw new Error(`browser test failed: ${what}`);
  console.log(`ok: ${what}`);
}

const server = await serve(www);
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const errors = [];
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.setDefaultTimeout(60_000);

  await page.goto(base);
  await page.waitForSelector('body[data-ready=true]');
  check(true, 'the page loaded and the wasm core started');

  // A custom cluster of five voters.
  await page.selectOption('#scenario', 'custom');
  await page.fill('#voters', '5');
  await page.fill('#observers', '0');
  await page.fill('#seed', '2024');
  await page.click('#new');
  await page.evaluate(() => window.zk.setSpeed(60));
  await page.click('#play');
  await page.waitForFunction(() => document.querySelector('#cluster').dataset.leader !== '');
  const first = Number(await page.getAttribute('#cluster', 'data-leader'));
  check(first >= 1 && first <= 5, `a leader is shown: s${first}`);
  check(await page.locator('#servers tbody tr').count() === 5, 'five servers in the table');

  // Click the leader's circle (the page lays servers out on a circle, s1 at the top).
  async function clickServer(id) {
    const box = await page.locator('#cluster').boundingBox();
    const w = 560, h = 420, r = Math.min(w, h) / 2 - 60, n = 5;
    const a = -Math.PI / 2 + (2 * Math.PI * (id - 1)) / n;
    const x = w / 2 + r * Math.cos(a), y = h / 2 + r * Math.sin(a);
    await page.mouse.click(box.x + (x * box.width) / w, box.y + (y * box.height) / h);
  }
  await clickServer(first);
  await page.waitForFunction((id) => window.zk.state.servers[id - 1].role === 'DOWN', first);
  check(true, `s${first} crashed by a click`);
  await page.waitForFunction((id) => {
    const l = document.querySelector('#cluster').dataset.leader;
    return l !== '' && Number(l) !== id;
  }, first);
  const second = Number(await page.getAttribute('#cluster', 'data-leader'));
  check(second !== first, `a new leader is shown: s${second}`);

  // The restarted server rejoins: usually as a follower, but in some timings a new election
  // picks it again and everyone follows it (seen in 5 of 60 crash/restart timings of this
  // seed). The clicks land at wall-clock moments, so which one happens varies by run.
  await clickServer(first);
  await page.waitForFunction((id) => {
    const roles = window.zk.state.servers.map((s) => s.role);
    return ['FOLLOWING', 'LEADING'].includes(roles[id - 1])
      && roles.filter((r) => r === 'LEADING').length === 1
      && roles.every((r) => r === 'FOLLOWING' || r === 'LEADING');
  }, first);
  const rejoined = await page.evaluate((id) => window.zk.state.servers[id - 1].role, first);
  check(true, `s${first} restarted by a click and ${rejoined === 'LEADING' ? 'leads again' : 'follows'}`);

  // A write through the client panel.
  await page.selectOption('#client-server', '1');
  await page.click('#add-client');
  await page.waitForFunction(() => document.querySelectorAll('#call-client option').length === 1);
  await page.selectOption('#call-op', 'create');
  await page.fill('#call-path', '/greeting');
  await page.fill('#call-data', 'hello from the browser');
  await page.click('#send');
  await page.waitForFunction(() => window.zk.state.clients[0].calls.some((c) => c.status === 'ok'));
  check(true, 'the client panel shows the create acknowledged');
  for (let id = 1; id <= 5; id++) {
    await page.selectOption('#tree-server', String(id));
    await page.waitForFunction(() => {
      const cells = Array.from(document.querySelectorAll('#tree tbody td')).map((td) => td.textContent);
      const i = cells.indexOf('/greeting');
      return i >= 0 && cells[i + 1] === 'hello from the browser';
    });
  }
  check(true, 'every server\'s data tree shows /greeting = "hello from the browser"');
  check((await page.getAttribute('#verdict-panel', 'data-violations')) === '0', 'the checks show no violation');
  await page.screenshot({ path: path.join(out, 'page.png'), fullPage: true });
  check(true, `screenshot saved to ${path.join(out, 'page.png')}`);

  // Scrubbing back recomputes an earlier moment.
  await page.click('#play');
  const steps = await page.evaluate(() => window.zk.state.steps);
  await page.evaluate(() => { const s = document.querySelector('#scrub'); s.value = '200'; s.dispatchEvent(new Event('input')); });
  check(await page.evaluate(() => window.zk.state.steps) === 200, 'the scrub bar went back to step 200');
  await page.evaluate((n) => { const s = document.querySelector('#scrub'); s.value = String(n); s.dispatchEvent(new Event('input')); }, steps);
  check(await page.evaluate(() => window.zk.state.servers.every((s) => s.tree.some((n) => n.path === '/greeting'))),
    'and forward again to the same state');

  // A deliberately broken leader: the checks panel turns red and names the invariant.
  await page.selectOption('#scenario', 'broken-commit');
  await page.click('#new');
  await page.evaluate(() => window.zk.fastForward(5000));
  await page.waitForFunction(() => Number(document.querySelector('#verdict-panel').dataset.violations) > 0);
  check((await page.textContent('#verdict')).includes('CommitDurability'), 'a commit without quorum is flagged in the checks panel');
  await page.click('#goto-violation');
  const back = await page.evaluate(() => window.zk.state.now_ms);
  check(back <= 3200 && (await page.textContent('#trace')).includes('»'), `"Show me" went back to the violation (t = ${back} ms) and marked its events`);
  await page.screenshot({ path: path.join(out, 'violation.png') });

  // Measurements: 7 servers animating; fast-forward.
  await page.selectOption('#scenario', 'custom');
  await page.fill('#voters', '7');
  await page.fill('#observers', '0');
  await page.click('#new');
  await page.evaluate(() => window.zk.setSpeed(50));
  await page.evaluate(() => window.zk.play());
  await page.waitForTimeout(4000);
  const fps = await page.evaluate(() => window.zk.fps(3000));
  await page.evaluate(() => window.zk.pause());
  // Fast-forward under load: three clients making random calls.
  await page.evaluate(() => { for (let i = 0; i < 3; i++) window.zk.cluster.add_client('random', 0); });
  const forward = await page.evaluate(() => window.zk.fastForward(60000));
  const wasmBytes = fs.statSync(path.join(www, 'pkg/zabkeeper_wasm_bg.wasm')).size;
  const perf = { seven_server_fps: Number(fps.toFixed(1)), fast_forward: forward, wasm_bytes: wasmBytes };
  fs.writeFileSync(path.join(out, 'perf.json'), JSON.stringify(perf, null, 2));
  console.log(`measured: ${JSON.stringify(perf)}`);
  check(fps > 0 && forward.messages > 0, 'frame rate and fast-forward measured');

  // Offline: once the service worker holds the files, the page loads with no server.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  await page.waitForSelector('body[data-ready=true]');
  await new Promise((resolve) => server.close(resolve));
  server.closeAllConnections?.();
  await page.reload();
  await page.waitForSelector('body[data-ready=true]');
  check(await page.locator('#servers tbody tr').count() > 0, 'the page works offline once loaded');

  const unexpected = errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e));
  check(unexpected.length === 0, `no errors in the page${unexpected.length ? `: ${unexpected.join('; ')}` : ''}`);
} catch (e) {
  console.error(e);
  console.error(errors.join('\n'));
  exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(exitCode);
