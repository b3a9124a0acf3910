// Real-browser tests of the installer example: headless Chromium (Debian's `chromium`, driven by the
// pinned `playwright-core`) against the real sse-installer, directly and through a real nginx.
//
// usage: node installer-browser.mjs --installer PATH --web-dir DIR --nginx-conf FILE --artifacts DIR
//                                   [--client-dir DIR (clients/js, the page's client package)]
//                                   [--chromium /usr/bin/chromium] [--nginx /usr/sbin/nginx]
//                                   [--only 1,2,3,4,5,6,7,8,9] [--keep]
//
// Scenarios (each with its own sse-installer, data dir, nginx and browser page):
//   1 direct: a normal install shows every log line once and `succeeded`; broken-driver shows
//     `failed`; a past job's log opens again from the history.
//   2 cut: browser -> nginx -> TCP relay -> sse-installer. The relay is cut mid-install (nginx then
//     answers 502), the page shows the interruption warning, resumes with lastEventId once the relay
//     is back, and ends with every line exactly once and the component installed.
//   3 polling: the SSE location goes through a relay that is cut after the first lines (502 from
//     then on) while the rest works: the page falls back to polling, completes, and goes back to
//     streaming once the stream works again.
//   4 buffering: nginx with `proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;`, large
//     buffers and HTTP/1.0 to the upstream (nginx's default): the page reports that the stream looks
//     buffered, falls back to polling, and completes.
//   5 two instances: two sse-installer --redis sharing a real redis-server; nginx sends the API to A
//     (which runs the job) and the streams to B (A as backup). B is killed mid-install: the page
//     says the stream was interrupted, resumes on A with lastEventId, and shows every line once.
//   6 stale components: after `done`, nginx answers 502 to the components list a few times: the
//     page keeps reloading it (backoff) until the row agrees with the server, says so next to the
//     table, and keeps the success banner.
//   7 stall: browser -> relay -> nginx; every browser connection goes half-dead mid-install (status
//     checks hang too): the page reports the silence within 2 pings + the 2 s status-check bound,
//     states the real silent time (within 1 s), reconnects and completes.
//   8 truncated: the components list is cut off mid-body (after its head) twice: the page says "the
//     server's answer was cut off; retrying", retries, and shows the list - no TypeError.
//   9 tabs: two tabs show the same job through nginx and share one stream (the client package's
//     Web Locks leader): sse-installer has one stream open; the leader tab is closed mid-install, the
//     other resumes with lastEventId once and shows every line exactly once.
// Every process is started here, every wait is bounded, and everything is stopped at the end, even on
// failure. Screenshots go to --artifacts. A missing chromium, nginx or playwright-core is a FAILURE.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// ---- arguments and environment ----------------------------------------------------------------

function parseArgs(argv) {
  const out = { chromium: '/usr/bin/chromium', nginx: '/usr/sbin/nginx', only: '1,2,3,4,5,6,7,8,9', keep: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--keep') { out.keep = true; continue; }
    if (!a.startsWith('--') || i + 1 >= argv.length) throw new Error('bad argument: ' + a);
    out[a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = argv[++i];
  }
  for (const k of ['installer', 'webDir', 'nginxConf', 'artifacts']) {
    if (!out[k]) throw new Error('missing --' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const T0 = Date.now();
const log = (...m) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s]`, ...m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class TestFailure extends Error {}
function check(cond, message) { if (!cond) throw new TestFailure(message); }

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
async function until(what, fn, timeoutMs, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) {
      if (e instanceof TestFailure) throw e;  // a definite failure; anything else (a page navigating) retries
      last = undefined;
    }
    if (last) return last;
    if (Date.now() > end) throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

function requireTool(file, what) {
  try { fs.accessSync(file, fs.constants.X_OK); } catch {
    throw new TestFailure(`${what} is not installed (looked for ${file}); scripts/test.sh installs it - this test does not skip`);
  }
}

// ---- cleanup: everything started is registered here and stopped at the end ---------------------

const cleanups = [];
let cleaning = null;
async function cleanupAll() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try { await Promise.race([fn(), sleep(5000)]); } catch (e) { log('cleanup error:', e.message); }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => { log(`got ${sig}, stopping everything`); await cleanupAll(); process.exit(1); });
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-'));
cleanups.push(async () => { if (!args.keep) fs.rmSync(tmpRoot, { recursive: true, force: true }); else log('kept', tmpRoot); });
fs.mkdirSync(args.artifacts, { recursive: true });
// Only this run's screenshots and logs in the artifacts dir.
for (const f of fs.readdirSync(args.artifacts)) {
  if (/^\d-[\w-]+\.(png|log|conf|out)$/.test(f)) fs.rmSync(path.join(args.artifacts, f), { force: true });
}

// ---- child processes --------------------------------------------------------------------------

function startChild(name, cmd, argv, logFile) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => fs.writeSync(out, d));
  child.stderr.on('data', (d) => fs.writeSync(out, d));
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  child.on('error', (e) => fs.writeSync(out, `spawn error: ${e.message}\n`));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const done = await Promise.race([child.exited, sleep(3000).then(() => null)]);
      if (!done) { child.kill('SIGKILL'); await Promise.race([child.exited, sleep(2000)]); }
    }
    fs.closeSync(out);
  };
  cleanups.push(stop);
  child.stopNow = stop;
  child.label = name;
  return child;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Starts sse-installer on a free port (it prints the port) with its own data dir. */
async function startInstaller(scenario, { pingInterval = 1, stepDelay = 50, extra = [] } = {}) {
  const dataDir = fs.mkdtempSync(path.join(tmpRoot, `data-${scenario}-`));
  const argv = ['--port', '0', '--data-dir', dataDir, '--ping-interval', String(pingInterval), '--ping-form', 'event',
    '--step-delay', String(stepDelay), '--web-dir', args.webDir, ...(args.clientDir ? ['--client-dir', args.clientDir] : []), ...extra];
  const isScript = /\.m?js$/.test(args.installer);  // a JS mock of the server, for developing the page
  const cmd = isScript ? process.execPath : args.installer;
  const logFile = path.join(args.artifacts, `${scenario}-installer.log`);
  const child = startChild('sse-installer', cmd, isScript ? [args.installer, ...argv] : argv, logFile);
  let buffered = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TestFailure('sse-installer did not print its port within 10 s; log: ' + logFile)), 10000);
    child.stdout.on('data', (d) => {
      buffered += d.toString();
      const m = /listening on http:\/\/[^:\s]+:(\d+)/.exec(buffered);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.exited.then(({ code, sig }) => { clearTimeout(timer); reject(new TestFailure(`sse-installer exited (${code ?? sig}) before listening; log: ${logFile}`)); });
  });
  log(`${scenario}: sse-installer on port ${port} (ping ${pingInterval} s, step delay ${stepDelay} ms)`);
  return { child, port, base: `http://127.0.0.1:${port}`, dataDir };
}

/** nginx on a free port, rendered from tests/browser/nginx.conf.in into its own temp dir. */
async function startNginx(scenario, { upstreamPort, eventsUpstreamPort = upstreamPort, eventsUpstream = '', httpExtra = '', buffering = '',
  componentsUpstreamPort = upstreamPort }) {
  const dir = fs.mkdtempSync(path.join(tmpRoot, `nginx-${scenario}-`));
  const template = fs.readFileSync(args.nginxConf, 'utf8');
  let lastError = '';
  for (let attempt = 0; attempt < 3; ++attempt) {
    const port = await freePort();
    const conf = template
      .replaceAll('@USER@', process.getuid && process.getuid() === 0 ? 'user root;' : '')
      .replaceAll('@PREFIX@', dir + '/')
      .replaceAll('@PORT@', String(port))
      .replaceAll('@UPSTREAM_PORT@', String(upstreamPort))
      .replaceAll('@EVENTS_UPSTREAM@', eventsUpstream || `127.0.0.1:${eventsUpstreamPort}`)
      .replaceAll('@COMPONENTS_UPSTREAM@', `127.0.0.1:${componentsUpstreamPort}`)
      .replaceAll('@HTTP_EXTRA@', httpExtra)
      .replaceAll('@BUFFERING@', buffering);
    check(!/@[A-Z_]+@/.test(conf), 'nginx.conf.in has an unknown placeholder');
    const confFile = path.join(dir, 'nginx.conf');
    fs.writeFileSync(confFile, conf);
    const child = startChild('nginx', args.nginx, ['-p', dir + '/', '-c', confFile, '-e', path.join(dir, 'error.log'),
      '-g', 'daemon off;'], path.join(args.artifacts, `${scenario}-nginx.out`));
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await canConnect(port)) {
        log(`${scenario}: nginx on port ${port}${buffering ? ' (buffering)' : ''}`);
        const copyLogs = () => {
          for (const f of ['access.log', 'error.log', 'nginx.conf']) {
            try { fs.copyFileSync(path.join(dir, f), path.join(args.artifacts, `${scenario}-nginx-${f}`)); } catch { /* none */ }
          }
        };
        cleanups.push(async () => copyLogs());
        return { child, port, base: `http://127.0.0.1:${port}`, accessLog: () => fs.readFileSync(path.join(dir, 'access.log'), 'utf8') };
      }
      await sleep(50);
    }
    await child.stopNow();
    lastError = fs.readFileSync(path.join(args.artifacts, `${scenario}-nginx.out`), 'utf8');
    try { lastError += fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { /* none */ }
  }
  throw new TestFailure('nginx did not start:\n' + lastError);
}

/**
 * A TCP relay we control: forwards a port to the upstream; cut() closes the listener and destroys
 * every connection (nginx then sees a truncated response, and 502 for new requests); resume()
 * listens again on the same port. freeze() makes every open connection half-dead (open, but nothing
 * passes either way, as through a dead NAT entry) and holds new connections; thaw() drops the dead
 * ones and lets the held ones through. lastStreamByteAt: when the relay last passed a byte of an SSE
 * response (a connection whose request asked for .../events) to its client.
 */
class Relay {
  constructor(name, upstreamPort) {
    this.name = name; this.upstreamPort = upstreamPort; this.sockets = new Set(); this.server = null; this.port = 0;
    this.connections = 0; this.conns = new Set(); this.frozen = false; this.lastStreamByteAt = 0;
    this.truncate = 0;   // the next N connections: the response head and 10 bytes of its body, then closed
  }
  async start() {
    this.port = await this.#listen(0);
    cleanups.push(() => this.cut());
    return this;
  }
  #connect(conn) {
    const upstream = net.connect(this.upstreamPort, '127.0.0.1');
    conn.upstream = upstream;
    this.#track(conn, upstream);
    let seen = Buffer.alloc(0);
    upstream.on('data', (d) => {
      if (conn.dead) return;
      if (conn.truncate) {
        seen = Buffer.concat([seen, d]);
        const head = seen.indexOf('\r\n\r\n');
        if (head < 0) return;
        conn.client.end(seen.subarray(0, head + 4 + 10));
        upstream.destroy();
        return;
      }
      conn.client.write(d);
      if (conn.stream) this.lastStreamByteAt = Date.now();
    });
    for (const d of conn.held.splice(0)) upstream.write(d);
  }
  #track(conn, s) {
    this.sockets.add(s);
    s.setNoDelay(true);
    const end = () => {
      this.sockets.delete(s);
      // A dead connection shows nothing, not even its end; thaw() or cut() destroys it.
      if (conn.dead && s === conn.upstream) return;
      conn.client.destroy();
      if (conn.upstream) conn.upstream.destroy();
      this.conns.delete(conn);
    };
    s.on('error', end);
    s.on('close', end);
  }
  #listen(port) {
    const server = net.createServer((client) => {
      this.connections++;
      const conn = { client, upstream: null, held: [], dead: false, stream: false, truncate: this.truncate > 0 };
      if (conn.truncate) this.truncate--;
      this.conns.add(conn);
      this.#track(conn, client);
      client.on('data', (d) => {
        if (conn.dead) return;
        const text = d.toString('latin1');
        if (/^(GET|POST|HEAD) /m.test(text)) conn.stream = /^GET [^ ]*\/events[ ?]/m.test(text);
        if (conn.upstream) conn.upstream.write(d); else conn.held.push(d);
      });
      if (!this.frozen) this.#connect(conn);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  }
  freeze() {
    this.frozen = true;
    for (const c of this.conns) c.dead = true;
  }
  thaw() {
    this.frozen = false;
    for (const c of [...this.conns]) {
      if (c.dead) { c.client.destroy(); if (c.upstream) c.upstream.destroy(); this.conns.delete(c); }
      else if (!c.upstream) this.#connect(c);
    }
  }
  async cut() {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.conns.clear();
    if (server) await new Promise((r) => server.close(() => r()));
  }
  async resume() {
    for (let i = 0; ; ++i) {
      try { await this.#listen(this.port); return; } catch (e) {
        if (i >= 20) throw e;
        await sleep(100);
      }
    }
  }
}

// ---- server-side truth ------------------------------------------------------------------------

async function getJson(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body, text };
}

/** Every event of a job, straight from the server (all pages of the polling endpoint). */
async function serverEvents(base, job) {
  const events = [];
  let after = null;
  for (let page = 0; page < 1000; ++page) {
    const url = `${base}/api/jobs/${encodeURIComponent(job)}/logs?limit=500` + (after ? `&after=${encodeURIComponent(after)}` : '');
    const r = await getJson(url);
    check(r.status === 200, `GET ${url} answered ${r.status}: ${r.text.slice(0, 200)}`);
    events.push(...r.body.events);
    if (!r.body.events.length) break;
    after = String(r.body.events.at(-1).id);
    if (r.body.done && r.body.events.length < 500) break;
  }
  return events;
}

async function pickComponent(base, exclude = []) {
  const r = await getJson(`${base}/api/components`);
  check(r.status === 200 && Array.isArray(r.body?.components), 'GET /api/components failed: ' + r.text.slice(0, 200));
  const names = r.body.components.map((c) => c.name);
  check(names.includes('broken-driver'), `the catalog has no broken-driver component (it has: ${names.join(', ')})`);
  const c = r.body.components.find((x) => x.name !== 'broken-driver' && !exclude.includes(x.name) && !x.running_job);
  check(c, 'the catalog has no component that should install: ' + names.join(', '));
  return c.name;
}

// ---- the page ---------------------------------------------------------------------------------

async function openPage(context, scenario, url) {
  const page = await context.newPage();
  const consoleLines = [];
  const pageErrors = [];
  page.on('console', (m) => consoleLines.push(`[${((Date.now() - T0) / 1000).toFixed(1)}s] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  cleanups.push(async () => {
    fs.writeFileSync(path.join(args.artifacts, `${scenario}-console.log`), consoleLines.join('\n') + '\n');
    await page.close().catch(() => {});
  });
  page.pageErrors = pageErrors;
  await page.goto(url, { timeout: 15000 });
  await page.waitForSelector('#components tbody tr[data-component]', { timeout: 15000 });
  return page;
}

async function shot(page, name, { events = false } = {}) {
  const file = path.join(args.artifacts, name + '.png');
  // The connection events list open when it tells the story; let the progress bar's transition end.
  if (events) await page.evaluate(() => { document.querySelector('#notices-box').open = true; }).catch(() => {});
  await sleep(300);
  await page.screenshot({ path: file, fullPage: true, timeout: 10000 }).catch((e) => log('screenshot failed:', e.message));
  log('screenshot', file);
  return file;
}

const domLines = (page) => page.$$eval('#log li .text', (els) => els.map((e) => e.textContent));
const domIds = (page) => page.$$eval('#log li', (els) => els.map((e) => e.dataset.id));
const badge = (page) => page.textContent('#badge');
const notices = (page) => page.$$eval('#notices li', (els) => els.map((e) => ({ state: e.dataset.state, text: e.querySelector('.msg').textContent })));

async function clickInstall(page, component) {
  const before = (await page.textContent('#job-id')).trim();
  await page.click(`#components tr[data-component="${component}"] button.install`, { timeout: 5000 });
  const job = await until('the page to show the new job', async () => {
    const id = (await page.textContent('#job-id')).trim();
    return id && id !== '–' && id !== before ? id : null;
  }, 10000);
  log(`  started ${component}: job ${job}`);
  return job;
}

async function waitBadge(page, states, timeoutMs) {
  return until(`the badge to read ${states.join(' or ')}`, async () => {
    const b = (await badge(page)).trim();
    return states.includes(b) ? b : null;
  }, timeoutMs, 200);
}

/** The page shows exactly the server's log lines, in order, each once; the badge is the server's state. */
async function checkJobShown(page, base, job, wantState) {
  const events = await serverEvents(base, job);
  const logEvents = events.filter((e) => e.type === 'log');
  const want = logEvents.map((e) => e.data.line);
  const done = events.find((e) => e.type === 'done');
  check(done, `job ${job} has no done event on the server`);
  check(done.data.state === wantState, `job ${job} ended ${done.data.state} on the server, expected ${wantState}`);
  check(want.length > 0, `job ${job} has no log lines on the server`);
  const status = (await getJson(`${base}/api/jobs/${encodeURIComponent(job)}`)).body;
  check(status.state === wantState, `GET /api/jobs/${job} says ${status.state}`);
  const got = await domLines(page);
  const ids = await domIds(page);
  const dupIds = ids.filter((id, i) => id && ids.indexOf(id) !== i);
  check(dupIds.length === 0, `the page shows events more than once: ids ${dupIds.slice(0, 10).join(', ')}`);
  if (got.length !== want.length || got.some((l, i) => l !== want[i])) {
    const i = got.findIndex((l, k) => l !== want[k]);
    throw new TestFailure(`the page shows ${got.length} log lines, the server has ${want.length}; first difference at ${i}: ` +
      `page ${JSON.stringify(got[i])} vs server ${JSON.stringify(want[i])}`);
  }
  check(JSON.stringify(ids) === JSON.stringify(logEvents.map((e) => String(e.id))), 'the event ids on the page differ from the server\'s');
  const b = (await badge(page)).trim();
  check(b === status.state, `the badge reads ${b}, the server says ${status.state}`);
  if (done.data.lines != null) check(done.data.lines === want.length, `done says ${done.data.lines} lines, the log has ${want.length}`);
  log(`  job ${job}: ${got.length} lines on the page, each once and in order; badge ${b} (from the server)`);
  return { lines: got.length, events };
}

async function checkInstalled(page, component) {
  await until(`${component} to be marked installed on the page`, async () =>
    (await page.getAttribute(`#components tr[data-component="${component}"]`, 'data-installed')) === 'true', 10000, 200);
  const text = await page.textContent(`#components tr[data-component="${component}"] .state`);
  check(/installed/.test(text) && !/not installed/.test(text), `component row says ${JSON.stringify(text)}`);
  log(`  ${component} marked installed on the page: ${JSON.stringify(text.trim())}`);
}

function checkNoPageErrors(page) {
  check(page.pageErrors.length === 0, 'JavaScript errors on the page:\n' + page.pageErrors.join('\n'));
}

async function noticeMatching(page, what, re, timeoutMs) {
  return until(what, async () => (await notices(page)).find((n) => re.test(n.text)), timeoutMs, 100);
}

/** The pause after each step, line and file: long enough that an install outlasts what a scenario does to it. */
const slowStep = (ms) => (args.stepDelaySlow ? Number(args.stepDelaySlow) : ms);

// ---- scenarios --------------------------------------------------------------------------------

async function scenarioDirect(context) {
  const srv = await startInstaller('1-direct', { stepDelay: 40 });
  const page = await openPage(context, '1-direct', srv.base + '/');
  const proxyText = await until('the diagnostics', async () => { const t = await page.textContent('#conn-proxy'); return t && t !== '–' ? t : null; }, 5000);
  check(/none seen/.test(proxyText), `directly connected, but the page says: ${proxyText}`);

  const component = await pickComponent(srv.base);
  const job = await clickInstall(page, component);
  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, srv.base, job, 'succeeded');
  await checkInstalled(page, component);
  await page.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 5000 });
  const warnings = (await notices(page)).filter((n) => /interrupted|polling|buffer/i.test(n.state + n.text));
  check(warnings.length === 0, 'a direct install showed warnings: ' + JSON.stringify(warnings));
  await shot(page, '1-direct-succeeded');

  const broken = await clickInstall(page, 'broken-driver');
  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, srv.base, broken, 'failed');
  const row = await page.getAttribute('#components tr[data-component="broken-driver"]', 'data-installed');
  check(row === 'false', 'broken-driver is marked installed after a failed install');
  await shot(page, '1-direct-failed');

  // The history lists both jobs; the first one's log opens again.
  await until('both jobs in the history', async () => (await page.$$('#history tbody tr[data-job]')).length >= 2, 10000, 200);
  await page.click(`#history tr[data-job="${job}"] button.open-log`);
  await until(`job ${job} reopened`, async () => (await page.textContent('#job-id')).trim() === job, 5000);
  await waitBadge(page, ['succeeded'], 15000);
  await until('the reopened log to be complete', async () => {
    const n = (await domLines(page)).length;
    return n > 0 && (await page.evaluate(() => document.body.dataset.state)) === 'done' ? n : null;
  }, 15000, 200);
  await checkJobShown(page, srv.base, job, 'succeeded');
  await shot(page, '1-direct-history');
  checkNoPageErrors(page);
}

async function scenarioCut(context) {
  const srv = await startInstaller('2-cut', { stepDelay: slowStep(600) });
  const relay = await new Relay('relay', srv.port).start();
  const proxy = await startNginx('2-cut', { upstreamPort: relay.port });
  const page = await openPage(context, '2-cut', proxy.base + '/');
  const proxyText = await until('the diagnostics', async () => { const t = await page.textContent('#conn-proxy'); return t && t !== '–' ? t : null; }, 5000);
  check(/a proxy is between us/.test(proxyText), `behind nginx, but the page says: ${proxyText}`);

  const component = await pickComponent(srv.base);
  const job = await clickInstall(page, component);
  await until('the first lines', async () => (await domLines(page)).length >= 3, 15000);
  const before = (await getJson(`${srv.base}/api/jobs/${job}`)).body;
  check(before.state === 'running', `the job is ${before.state} already; it must still run when the relay is cut`);
  log(`  cutting the relay at ${(await domLines(page)).length} lines on the page (server: ${before.lines})`);
  await relay.cut();
  const warning = await noticeMatching(page, 'the interruption warning', /stream was interrupted.*install continues on the server/i, 10000);
  log('  page says:', warning.text);
  // nginx answers 502 while the upstream is unreachable; the page tells it.
  await noticeMatching(page, 'a warning about the 502', /502/, 10000);
  await until('the page to retry', async () => (await notices(page)).some((n) => n.state === 'retrying'), 10000);
  const during = await getJson(`${proxy.base}/api/jobs/${job}`);
  check(during.status === 502, `nginx answered ${during.status} while the relay was cut, expected 502`);
  await sleep(1500);
  const after = (await getJson(`${srv.base}/api/jobs/${job}`)).body;
  check(after.lines > before.lines || after.state !== 'running', 'the install did not go on on the server while the stream was cut');
  await shot(page, '2-cut-interrupted');
  log(`  server went on: ${before.lines} -> ${after.lines} lines while cut; resuming the relay`);
  await relay.resume();

  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, srv.base, job, 'succeeded');
  await checkInstalled(page, component);
  const resumed = proxy.accessLog().split('\n').filter((l) => /\/events\?lastEventId=\S+/.test(l) && / 200 /.test(l));
  check(resumed.length >= 1, 'nginx saw no resumed stream (GET .../events?lastEventId=...) answered 200:\n' + proxy.accessLog());
  log(`  resumed with: ${resumed[0].split('"')[1]}`);
  await shot(page, '2-cut-resumed', { events: true });
  checkNoPageErrors(page);
}

async function scenarioPolling(context) {
  const srv = await startInstaller('3-polling', { stepDelay: slowStep(1000) });
  const eventsRelay = await new Relay('events-relay', srv.port).start();
  const proxy = await startNginx('3-polling', { upstreamPort: srv.port, eventsUpstreamPort: eventsRelay.port });
  const page = await openPage(context, '3-polling', proxy.base + '/');

  const component = await pickComponent(srv.base);
  const job = await clickInstall(page, component);
  await until('the first lines', async () => (await domLines(page)).length >= 2, 15000);
  log('  cutting the stream: every SSE request now fails (502) while the rest of the API works');
  await eventsRelay.cut();
  const switched = await noticeMatching(page, 'the switch to polling', /switched to polling/i, 20000);
  log('  page says:', switched.text);
  await until('transport = polling', async () => (await page.evaluate(() => document.body.dataset.transport)) === 'polling', 5000);
  const n1 = (await domLines(page)).length;
  await until('lines arriving by polling', async () => (await domLines(page)).length > n1 || (await badge(page)).trim() !== 'running', 10000, 200);
  const st = (await getJson(`${srv.base}/api/jobs/${job}`)).body;
  await shot(page, '3-polling');
  check(st.state === 'running', `the job had already ended (${st.state}) before the stream came back; it must outlast the fallback`);
  log('  the stream works again: the page should go back to it (it tries every 8 s while polling)');
  await eventsRelay.resume();
  const backToStream = await until('the page to go back to streaming before the job ends', async () => {
    const n = (await notices(page)).find((x) => /streaming works again/i.test(x.text));
    if (n) return n;
    if ((await badge(page)).trim() !== 'running') throw new TestFailure('the job ended before the page went back to streaming');
    return null;
  }, 20000, 200);
  log('  page says:', backToStream.text);
  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, srv.base, job, 'succeeded');
  await checkInstalled(page, component);
  const polls = proxy.accessLog().split('\n').filter((l) => /\/logs\?/.test(l));
  check(polls.length >= 1, 'nginx saw no polling request');
  log(`  ${polls.length} polling requests went through nginx`);
  await shot(page, '3-polling-done', { events: true });
  checkNoPageErrors(page);
}

async function scenarioBuffering(context) {
  const srv = await startInstaller('4-buffering', { stepDelay: slowStep(600) });
  const proxy = await startNginx('4-buffering', {
    upstreamPort: srv.port,
    // nginx 1.22 passes each upstream chunk on at once even with buffering on when it talks HTTP/1.1 to
    // the upstream; with its default proxy_http_version 1.0 (a close-delimited body) it holds the
    // events until its buffers fill or the stream ends - once it ignores `X-Accel-Buffering: no`.
    buffering: 'proxy_http_version 1.0; proxy_buffering on; proxy_ignore_headers X-Accel-Buffering; ' +
      'proxy_buffer_size 64k; proxy_buffers 16 64k; proxy_busy_buffers_size 128k;',
  });
  const page = await openPage(context, '4-buffering', proxy.base + '/');
  const component = await pickComponent(srv.base);
  const job = await clickInstall(page, component);
  const warning = await noticeMatching(page, 'the buffering warning', /buffered by a proxy/i, 25000);
  log('  page says:', warning.text);
  const st = (await getJson(`${srv.base}/api/jobs/${job}`)).body;
  check(st.state === 'running', `the job had already ended (${st.state}) when the page noticed the buffering; it must notice while it runs`);
  await until('a few lines by polling', async () => (await domLines(page)).length >= 3, 10000, 200);
  await shot(page, '4-buffering');
  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, srv.base, job, 'succeeded');
  await checkInstalled(page, component);
  await shot(page, '4-buffering-done', { events: true });
  checkNoPageErrors(page);
}

/** A private redis-server (Debian's) on a free port, no persistence, in its own temp dir. */
async function startRedis(scenario) {
  const bin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => fs.existsSync(f));
  check(bin, 'redis-server is not installed (Debian package `redis-server`)');
  const dir = fs.mkdtempSync(path.join(tmpRoot, `redis-${scenario}-`));
  const port = await freePort();
  const child = startChild('redis-server', bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', dir, '--protected-mode', 'no'], path.join(args.artifacts, `${scenario}-redis.log`));
  await until('redis-server to accept connections', () => canConnect(port), 10000);
  log(`${scenario}: redis-server on port ${port}`);
  return { child, port, url: `redis://127.0.0.1:${port}/0` };
}

async function scenarioTwoInstances(context) {
  const redis = await startRedis('5-cluster');
  const shared = fs.mkdtempSync(path.join(tmpRoot, 'installed-5-'));
  const extra = ['--redis', redis.url, '--redis-prefix', 'browser5:', '--install-dir', shared];
  const a = await startInstaller('5-cluster-a', { stepDelay: slowStep(600), extra });
  const b = await startInstaller('5-cluster-b', { stepDelay: slowStep(600), extra });
  const proxy = await startNginx('5-cluster', {
    upstreamPort: a.port,
    eventsUpstream: 'installer_streams',
    httpExtra: `upstream installer_streams { server 127.0.0.1:${b.port} max_fails=1 fail_timeout=30s; server 127.0.0.1:${a.port} backup; }`,
  });
  const page = await openPage(context, '5-cluster', proxy.base + '/');
  const instanceA = (await getJson(`${a.base}/api/diagnostics`)).body.instance;
  const shown = await until('the instance on the page', async () => {
    const t = await page.textContent('#conn-instance');
    return t && t.startsWith(instanceA) ? t : null;
  }, 5000);
  log(`  page says: instance ${shown}`);
  const component = await pickComponent(a.base);
  const job = await clickInstall(page, component);
  await until('the first lines', async () => (await domLines(page)).length >= 3, 15000);
  const onB = (await getJson(`${b.base}/api/jobs/${job}`)).body;
  check(onB && onB.state === 'running', `instance B does not see job ${job} running: ${JSON.stringify(onB)}`);
  log(`  streaming from B at ${(await domLines(page)).length} lines; killing B (SIGKILL)`);
  b.child.kill('SIGKILL');
  await noticeMatching(page, 'the interruption warning', /stream was interrupted.*install continues on the server/i, 10000);
  await waitBadge(page, ['succeeded', 'failed'], 60000);
  await checkJobShown(page, a.base, job, 'succeeded');
  await checkInstalled(page, component);
  const streams = proxy.accessLog().split('\n').filter((l) => /\/events/.test(l));
  const resumed = streams.filter((l) => /\/events\?lastEventId=\d+-\d+/.test(l) && / 200 /.test(l));
  check(resumed.length >= 1, 'nginx saw no resumed stream (GET .../events?lastEventId=<redis id>) answered 200:\n' + streams.join('\n'));
  check(resumed.every((l) => l.trim().endsWith(`127.0.0.1:${a.port}`)), 'a resumed stream was not served by A:\n' + resumed.join('\n'));
  check(streams.some((l) => l.includes(`127.0.0.1:${b.port}`)), 'the first stream was not served by B:\n' + streams.join('\n'));
  log(`  resumed on A with: ${resumed[0].split('"')[1]}`);
  await shot(page, '5-cluster-resumed', { events: true });
  checkNoPageErrors(page);
}

async function scenarioStaleComponents(context) {
  const srv = await startInstaller('6-components', { stepDelay: slowStep(150) });
  const componentsRelay = await new Relay('components-relay', srv.port).start();
  const proxy = await startNginx('6-components', { upstreamPort: srv.port, componentsUpstreamPort: componentsRelay.port });
  const page = await openPage(context, '6-components', proxy.base + '/');
  const component = await pickComponent(srv.base);
  const row = `#components tr[data-component="${component}"]`;
  const job = await clickInstall(page, component);
  await until('the row to show the install running', async () => /installing/.test(await page.textContent(`${row} .state`)), 10000);
  log('  the components list now answers 502 (its upstream is down) while the rest of the API works');
  await componentsRelay.cut();
  await waitBadge(page, ['succeeded', 'failed'], 30000);
  const doneAt = Date.now();
  const bad = () => proxy.accessLog().split('\n').filter((l) => /"GET \/api\/components HTTP\/1\.1" 502 /.test(l)).length;
  await until('three reloads of the components answered 502', async () => bad() >= 3, 10000, 100);
  const banner = await page.$eval('#notice', (n) => ({ text: n.textContent, cls: n.className, hidden: n.hidden }));
  check(!banner.hidden && /ok/.test(banner.cls) && /reports the job succeeded/.test(banner.text),
    'the success banner was replaced: ' + JSON.stringify(banner));
  const side = await page.$eval('#components-notice', (n) => ({ text: n.textContent, hidden: n.hidden }));
  check(!side.hidden && /^Could not refresh the components: HTTP 502; retrying in \d\.\d s \(attempt \d+ of 10\)\.$/.test(side.text),
    'no notice about the failed reloads next to the table: ' + JSON.stringify(side));
  log(`  ${bad()} reloads answered 502 in ${((Date.now() - doneAt) / 1000).toFixed(1)} s; the panel says: ${side.text}`);
  check((await page.getAttribute(row, 'data-installed')) === 'false', 'the row was up to date although every reload failed');
  await shot(page, '6-components-502');
  await componentsRelay.resume();
  await checkInstalled(page, component);
  const text = await page.textContent(`${row} .state`);
  check(!/installing/.test(text) && !(await page.getAttribute(`${row} button.install`, 'disabled')), `the row still shows the job running: ${text}`);
  await until('the panel notice to go away', async () => page.$eval('#components-notice', (n) => n.hidden), 3000);
  await checkJobShown(page, srv.base, job, 'succeeded');
  check(/reports the job succeeded/.test(await page.textContent('#notice')), 'the success banner is gone');
  checkNoPageErrors(page);
}

async function scenarioStall(context) {
  const srv = await startInstaller('7-stall', { stepDelay: slowStep(500), pingInterval: 1 });
  const proxy = await startNginx('7-stall', { upstreamPort: srv.port });
  // browser -> relay -> nginx -> sse-installer: the relay makes the browser's connections half-dead.
  const front = await new Relay('front', proxy.port).start();
  const page = await openPage(context, '7-stall', `http://127.0.0.1:${front.port}/`);
  const component = await pickComponent(srv.base);
  const job = await clickInstall(page, component);
  await until('the first lines, streamed', async () => (await domLines(page)).length >= 3 &&
    (await page.evaluate(() => document.body.dataset.state)) === 'open', 15000);
  await sleep(1200);   // at least one ping
  front.freeze();
  const frozeAt = Date.now();
  const lastByteAt = front.lastStreamByteAt;
  check(lastByteAt > 0, 'the relay saw no SSE bytes');
  log(`  every connection of the browser is now half-dead (the last stream byte passed ${frozeAt - lastByteAt} ms before)`);
  const stall = await until('the page to report the silent stream', async () =>
    (await page.evaluate(() => window.installerApp.notices)).find((n) => /^No ping or event for/.test(n.message)), 12000, 50);
  const noticeAt = Date.parse(stall.at);
  const stated = Number(/^No ping or event for (\d+(?:\.\d+)?) s/.exec(stall.message)[1]) * 1000;
  const real = noticeAt - lastByteAt;
  log(`  page says (after ${(real / 1000).toFixed(2)} s of real silence): ${stall.message}`);
  // Twice the ping interval, plus the status check's 2 s bound, plus the watchdog's 0.5 s step and slack.
  check(real <= 2 * 1000 + 2000 + 1500, `the silent stream was reported after ${real} ms (bound 5500 ms)`);
  check(Math.abs(stated - real) <= 1000, `the page says ${stated} ms of silence, the real silence was ${real} ms`);
  check(/status check did not answer within 2\.0 s either/.test(stall.message), 'the status check did not hang as planned: ' + stall.message);
  await shot(page, '7-stall-detected', { events: true });
  front.thaw();
  await waitBadge(page, ['succeeded', 'failed'], 30000);
  await page.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 10000 });
  await checkJobShown(page, srv.base, job, 'succeeded');
  await checkInstalled(page, component);
  await shot(page, '7-stall-done', { events: true });
  checkNoPageErrors(page);
}

async function scenarioTruncated(context) {
  const srv = await startInstaller('8-truncated', { stepDelay: 40 });
  const componentsRelay = await new Relay('components-relay', srv.port).start();
  componentsRelay.truncate = 2;   // the page's first two loads of the components list are cut off mid-body
  const proxy = await startNginx('8-truncated', { upstreamPort: srv.port, componentsUpstreamPort: componentsRelay.port });
  const page = await openPage(context, '8-truncated', proxy.base + '/');
  const said = await page.evaluate(() => (window.installerApp.componentNotices || []).map((n) => n.message));
  log('  the components panel said: ' + JSON.stringify(said));
  check(said.length === 2 && said.every((m, i) =>
    new RegExp(`^Could not load the components: the server's answer was cut off; retrying in \\d\\.\\d s \\(attempt ${i + 1} of 6\\)\\.$`).test(m)),
  'the page did not say that the answer was cut off, twice: ' + JSON.stringify(said));
  check(componentsRelay.truncate === 0 && componentsRelay.connections === 3, `${componentsRelay.connections} requests for the components reached the relay, expected 3`);
  check(await page.$eval('#components-notice', (n) => n.hidden), 'the components notice stayed after the list loaded');
  const rows = await page.$$eval('#components tbody tr[data-component]', (trs) => trs.map((tr) => tr.dataset.component));
  const server = (await getJson(`${srv.base}/api/components`)).body.components.map((c) => c.name);
  check(JSON.stringify(rows) === JSON.stringify(server), `the table shows ${rows.join(', ')}, the server has ${server.join(', ')}`);
  check(!(await page.textContent('#notice')), 'the job banner shows: ' + (await page.textContent('#notice')));
  checkNoPageErrors(page);
}

async function scenarioTabs(context) {
  const srv = await startInstaller('9-tabs', { stepDelay: slowStep(150) });
  const proxy = await startNginx('9-tabs', { upstreamPort: srv.port });
  const a = await openPage(context, '9-tabs-a', proxy.base + '/');
  const component = await pickComponent(srv.base);
  const job = await clickInstall(a, component);
  await until('the first lines in tab A', async () => (await domLines(a)).length >= 2, 15000);
  const b = await openPage(context, '9-tabs-b', proxy.base + '/#job=' + encodeURIComponent(job));
  await until(`tab B to show job ${job}`, async () => (await b.textContent('#job-id')).trim() === job, 10000);
  const roles = async () => [await a.evaluate(() => window.installerApp.client.role), await b.evaluate(() => window.installerApp.client.role)];
  await until('tab A to lead and tab B to follow', async () => JSON.stringify(await roles()) === '["leader","follower"]', 5000);
  await until('tab B to catch up with tab A', async () => {
    const [la, lb] = [await domLines(a), await domLines(b)];
    return lb.length >= 3 && lb.length >= la.length - 1;
  }, 10000);
  const streams = () => proxy.accessLog().split('\n').filter((l) => /\/events/.test(l));
  // nginx logs a request when it ends: the stream still open is in the server's gauge, not in the log.
  check(streams().length === 0, 'a stream request ended while both tabs were reading:\n' + streams().join('\n'));
  const open = Number(/^sse_connections_open (\d+)$/m.exec((await getJson(`${srv.base}/metrics`)).text)?.[1]);
  check(open === 1, `sse-installer has ${open} open streams for two tabs of one job; expected 1`);
  log(`  two tabs on job ${job}: one stream (sse_connections_open = ${open}); closing tab A, which holds it`);
  const st = (await getJson(`${srv.base}/api/jobs/${job}`)).body;
  check(st.state === 'running', `the job had ended (${st.state}) before the leader tab closed; it must still run`);
  await a.close();
  await waitBadge(b, ['succeeded', 'failed'], 60000);
  await checkJobShown(b, srv.base, job, 'succeeded');
  const resumed = streams().filter((l) => /\/events\?lastEventId=\S+/.test(l) && / 200 /.test(l));
  check(resumed.length === 1, 'tab B did not resume the stream with lastEventId exactly once:\n' + streams().join('\n'));
  log(`  tab B took over: ${resumed[0].split('"')[1]}`);
  checkNoPageErrors(b);
}

// ---- main -------------------------------------------------------------------------------------

const SCENARIOS = [
  ['1', 'direct: a normal install shows every line and success; broken-driver fails; history reopens a log', scenarioDirect],
  ['2', 'nginx + cut upstream: interruption warning, resume with lastEventId, every line once', scenarioCut],
  ['3', 'stream failing repeatedly: falls back to polling, completes, streams again', scenarioPolling],
  ['4', 'buffering proxy: the page reports buffering and completes', scenarioBuffering],
  ['5', 'two instances sharing Redis: the streaming instance dies, the page resumes on the other, every line once', scenarioTwoInstances],
  ['6', 'components reload answered 502 a few times after done: the row ends up agreeing, the success banner stays', scenarioStaleComponents],
  ['7', 'half-dead connections, status check hangs: the silence is reported within 2 pings + 2 s, with its real length', scenarioStall],
  ['8', 'the components list cut off mid-body twice: the page says so, retries, and shows the list', scenarioTruncated],
  ['9', 'two tabs of one job share one stream; the tab holding it closes, the other resumes and shows every line once', scenarioTabs],
];

async function main() {
  requireTool(args.chromium, 'chromium (Debian package `chromium`)');
  requireTool(args.nginx, 'nginx (Debian package `nginx-light`)');
  if (!/\.m?js$/.test(args.installer)) requireTool(args.installer, 'sse-installer');
  check(fs.existsSync(path.join(args.webDir, 'index.html')), `no index.html in --web-dir ${args.webDir}`);
  let chromium;
  try { ({ chromium } = await import('playwright-core')); } catch (e) {
    throw new TestFailure('playwright-core is not installed in tests/node (run scripts/test-setup.sh, i.e. `npm ci` in tests/node): ' + e.message);
  }
  const profile = fs.mkdtempSync(path.join(tmpRoot, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    timeout: 30000,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  cleanups.push(() => context.close());
  log('chromium', context.browser()?.version() ?? '(persistent context)', 'started');

  const only = new Set(String(args.only).split(','));
  const results = [];
  for (const [id, title, fn] of SCENARIOS) {
    if (!only.has(id)) continue;
    const t = Date.now();
    log(`scenario ${id}: ${title}`);
    const mark = cleanups.length;
    try {
      await fn(context);
      results.push({ id, ok: true });
      log(`scenario ${id}: PASSED in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      results.push({ id, ok: false, error: e });
      log(`scenario ${id}: FAILED: ${e instanceof TestFailure ? e.message : e.stack}`);
      for (const p of context.pages()) await shot(p, `${id}-failure`);
    }
    // Stop this scenario's processes before the next one.
    while (cleanups.length > mark) {
      const fn2 = cleanups.pop();
      try { await Promise.race([fn2(), sleep(5000)]); } catch (e) { log('cleanup error:', e.message); }
    }
  }
  return results;
}

const watchdog = setTimeout(async () => {
  log('FAILED: the whole browser suite took longer than 240 s; stopping everything');
  await cleanupAll();
  process.exit(1);
}, 240000);

let exitCode = 1;
try {
  const results = await main();
  const failed = results.filter((r) => !r.ok);
  console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
  exitCode = failed.length || !results.length ? 1 : 0;
} catch (e) {
  log('FAILED:', e instanceof TestFailure ? e.message : e.stack);
} finally {
  await cleanupAll();
  clearTimeout(watchdog);
}
log(`screenshots and logs in ${args.artifacts}`);
process.exit(exitCode);
