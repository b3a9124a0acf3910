// Real-browser test of the client package's connection sharing (clients/js): headless Chromium (Debian's
// `chromium`, driven by the pinned playwright-core) with many tabs of one origin, against the real
// sse-hub (examples/hub), over HTTP/1.1.
//
// usage: node shared-tabs-browser.mjs --hub PATH --client-dir DIR --page FILE --artifacts DIR [--chromium PATH]
//
// The page (tests/browser/shared-tabs.html) and the package's own files (--client-dir, served at
// /client/) come from a small static server here; the streams from sse-hub on another port (CORS with
// --allow-origin), so the browser's limit of 6 HTTP/1.1 connections per host applies to the hub only.
//   A 8 tabs x 3 topics, sharing on (half the tabs load the ES module entry, half the script-tag form):
//     sse-hub's gauge sse_connections_open says 3; 40 events per topic reach every tab exactly once, in
//     order.
//   B the tab holding the connections is closed while events are published every 15 ms: another tab
//     takes over within 2 s, resumes from its last id (sse_replays_total grows), and every remaining
//     tab has every event exactly once, in order.
//   B2 the renderer of the tab that took over crashes (CDP Page.crash): the same, within 2 s.
//   B3 the tab that leads hangs for 3 s (a long task: it says nothing): a follower takes the lock
//     from it (Web Locks `steal`) after the leader timeout (1.5 s here) and resumes; back to life, the
//     old leader follows and catches up. Every tab has every event exactly once, in order.
//   C the control: 8 tabs x 1 topic with sharing off: the hub sees 6 streams, 2 tabs stall (nothing
//     delivered) - the six-connection limit that sharing avoids.
// Every process is started here, every wait is bounded, everything is stopped at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

function parseArgs(argv) {
  const out = { chromium: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (!a.startsWith('--') || i + 1 >= argv.length) throw new Error('bad argument: ' + a);
    out[a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = argv[++i];
  }
  for (const k of ['hub', 'clientDir', 'page', 'artifacts']) if (!out[k]) throw new Error('missing --' + k);
  return out;
}
const args = parseArgs(process.argv.slice(2));
const T0 = Date.now();
const log = (...m) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s]`, ...m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
class TestFailure extends Error {}
function check(cond, message) { if (!cond) throw new TestFailure(message); }

async function until(what, fn, timeoutMs, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { if (e instanceof TestFailure) throw e; last = undefined; }
    if (last) return last;
    if (Date.now() > end) throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

const cleanups = [];
async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { await Promise.race([fn(), sleep(5000)]); } catch (e) { log('cleanup error:', e.message); }
  }
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, async () => { await cleanupAll(); process.exit(1); });
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-tabs-'));
cleanups.push(async () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
fs.mkdirSync(args.artifacts, { recursive: true });

// ---- processes and servers --------------------------------------------------------------------

function startChild(name, cmd, argv, logFile) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => fs.writeSync(out, d));
  child.stderr.on('data', (d) => fs.writeSync(out, d));
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  child.on('error', (e) => fs.writeSync(out, `spawn error: ${e.message}\n`));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await Promise.race([child.exited, sleep(3000).then(() => null)]))) { child.kill('SIGKILL'); await child.exited; }
    }
    fs.closeSync(out);
  });
  return child;
}

/** The page and the package's files, from a static server of our own (only these files). */
async function startPageServer() {
  const files = {
    '/': [args.page, 'text/html; charset=utf-8'],
    '/client/sse-client.js': [path.join(args.clientDir, 'sse-client.js'), 'text/javascript; charset=utf-8'],
    '/client/index.mjs': [path.join(args.clientDir, 'index.mjs'), 'text/javascript; charset=utf-8'],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url.split('?')[0]];
    if (!f || req.method !== 'GET') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f[1], 'Cache-Control': 'no-store' });
    res.end(fs.readFileSync(f[0]));
  });
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); });
  return `http://127.0.0.1:${server.address().port}`;
}

async function startHub(pageOrigin) {
  const child = startChild('sse-hub', args.hub, ['--port', '0', '--threads', '2', '--ping-interval', '0.5', '--ping-form', 'event',
    '--allow-origin', pageOrigin, '--log-level', 'warn'], path.join(args.artifacts, 'tabs-hub.log'));
  let buffered = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TestFailure('sse-hub did not print its port within 10 s')), 10000);
    child.stdout.on('data', (d) => {
      buffered += d.toString();
      const m = /listening on http:\/\/[^:\s]+:(\d+)/.exec(buffered);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.exited.then(({ code, sig }) => { clearTimeout(timer); reject(new TestFailure(`sse-hub exited (${code ?? sig}) before listening`)); });
  });
  return `http://127.0.0.1:${port}`;
}

async function metrics(hub) {
  const text = await (await fetch(hub + '/metrics', { signal: AbortSignal.timeout(5000) })).text();
  const get = (name) => { const m = new RegExp('^' + name + ' (\\d+)$', 'm').exec(text); check(m, `no ${name} in /metrics`); return Number(m[1]); };
  return { open: get('sse_connections_open'), replays: get('sse_replays_total'), total: get('sse_connections_total') };
}

async function publish(hub, topic, seq) {
  const r = await fetch(`${hub}/publish/${topic}`, { method: 'POST', body: JSON.stringify({ seq }), signal: AbortSignal.timeout(5000) });
  check(r.status === 202, `publish to ${topic} answered ${r.status}`);
  return (await r.json()).id;
}

// ---- the tabs ---------------------------------------------------------------------------------

async function openTabs(context, base, n, query) {
  const pages = [];
  for (let i = 0; i < n; ++i) {
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e && e.stack || e)));
    const form = typeof query.form === 'function' ? query.form(i) : query.form;
    await page.goto(`${base}/?hub=${encodeURIComponent(query.hub)}&topics=${query.topics.join(',')}&share=${query.share ? 1 : 0}&form=${form}` +
      `&leaderTimeout=${LEADER_TIMEOUT_MS}`, { timeout: 15000 });
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 10000 });
    page.index = i;
    pages.push(page);
  }
  return pages;
}
const LEADER_TIMEOUT_MS = 1500;
const summary = (page) => page.evaluate(() => window.test.summary());
const received = (page, topic) => page.evaluate((t) => window.test.received[t], topic);

/** Every page has exactly the events published to each topic: each id once, the data 0..n-1 in order. */
async function checkExactlyOnce(pages, published) {
  for (const [topic, ids] of Object.entries(published)) {
    await until(`every tab to have the ${ids.length} events of ${topic}`, async () => {
      for (const p of pages) if ((await received(p, topic)).length < ids.length) return false;
      return true;
    }, 10000);
  }
  await sleep(200);   // anything extra (a repeat) would arrive now
  for (const p of pages) {
    for (const [topic, ids] of Object.entries(published)) {
      const got = await received(p, topic);
      check(got.length === ids.length, `tab ${p.index}, ${topic}: ${got.length} events, ${ids.length} published`);
      got.forEach((e, i) => {
        check(e.id === ids[i] && e.data && e.data.seq === i,
          `tab ${p.index}, ${topic}: event #${i} is ${JSON.stringify(e)}, expected id ${ids[i]} seq ${i}`);
      });
    }
    check(p.errors.length === 0, `JavaScript errors in tab ${p.index}:\n${p.errors.join('\n')}`);
  }
}

async function main() {
  try { fs.accessSync(args.chromium, fs.constants.X_OK); } catch {
    throw new TestFailure(`chromium is not installed (looked for ${args.chromium}); scripts/test.sh installs it - this test does not skip`);
  }
  let chromium;
  try { ({ chromium } = await import('playwright-core')); } catch (e) {
    throw new TestFailure('playwright-core is not installed in tests/node (scripts/test-setup.sh): ' + e.message);
  }
  const base = await startPageServer();
  const hub = await startHub(base);
  log(`page server ${base}, sse-hub ${hub}`);
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmpRoot, 'profile-')), {
    executablePath: args.chromium, headless: true, timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  cleanups.push(() => context.close());
  for (const p of context.pages()) await p.close();

  // ---- A: 8 tabs x 3 topics, one connection per topic ----
  let t = Date.now();
  const topics = ['alpha', 'beta', 'gamma'];
  const pages = await openTabs(context, base, 8, { hub, topics, share: true, form: (i) => (i % 2 ? 'script' : 'esm') });
  const ready = await until('every tab to stream every topic (leader or follower)', async () => {
    const all = await Promise.all(pages.map(summary));
    return all.every((s) => topics.every((k) => s[k].state === 'open' && (s[k].role === 'leader' || s[k].role === 'follower'))) && all;
  }, 10000);
  const m0 = await metrics(hub);
  for (const k of topics) {
    const leaders = ready.map((s, i) => (s[k].role === 'leader' ? i : -1)).filter((i) => i >= 0);
    check(leaders.length === 1, `${k} has ${leaders.length} leader tabs: ${leaders.join(', ')}`);
  }
  log(`A: 8 tabs x 3 topics ready in ${Date.now() - t} ms; the hub has ${m0.open} open streams (sse_connections_open)`);
  check(m0.open === 3, `the hub has ${m0.open} open streams for 8 tabs x 3 topics; expected 3`);
  const published = Object.fromEntries(topics.map((k) => [k, []]));
  for (let i = 0; i < 40; ++i) for (const k of topics) published[k].push(await publish(hub, k, i));
  await checkExactlyOnce(pages, published);
  const m1 = await metrics(hub);
  check(m1.open === 3, `after the events the hub has ${m1.open} open streams; expected 3`);
  log(`A: PASSED: every tab got the 3 x 40 events exactly once, in order, through 3 connections (${Date.now() - t} ms)`);

  // ---- B: the leader tab closes mid-stream ----
  t = Date.now();
  const roles = await Promise.all(pages.map(summary));
  const leaderIndex = roles.findIndex((s) => s.alpha.role === 'leader');
  const leaderPage = pages[leaderIndex];
  const leadsAlso = topics.filter((k) => roles[leaderIndex][k].role === 'leader');
  let seq = 40;
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      for (const k of topics) published[k].push(await publish(hub, k, seq));
      seq++;
      await sleep(15);
    }
  })();
  await sleep(300);
  log(`B: closing tab ${leaderIndex} (it holds the connections of ${leadsAlso.join(', ')}) while events are published every 15 ms`);
  const closedAt = Date.now();
  await leaderPage.close();
  const rest = pages.filter((p) => p !== leaderPage);
  const takeover = await until('another tab to hold every topic\'s connection again', async () => {
    const all = await Promise.all(rest.map(summary));
    return topics.every((k) => all.filter((s) => s[k].role === 'leader' && s[k].state === 'open').length === 1) && Date.now();
  }, 5000, 20);
  const takeoverMs = takeover - closedAt;
  log(`B: taken over in ${takeoverMs} ms`);
  check(takeoverMs <= 2000, `the takeover took ${takeoverMs} ms (bound 2000 ms)`);
  await sleep(500);
  publishing = false;
  await publisher;
  await checkExactlyOnce(rest, published);
  const m2 = await metrics(hub);
  check(m2.open === 3, `after the takeover the hub has ${m2.open} open streams; expected 3`);
  check(m2.replays >= m1.replays + leadsAlso.length, `the new leaders did not resume from their last id (sse_replays_total ${m1.replays} -> ${m2.replays})`);
  log(`B: PASSED: ${published.alpha.length} events per topic, every remaining tab got each exactly once, in order; ` +
    `sse_replays_total ${m1.replays} -> ${m2.replays} (${Date.now() - t} ms)`);

  // ---- B2: the new leader's renderer crashes (no pagehide, no goodbye): the browser frees its lock ----
  t = Date.now();
  const roles2 = await Promise.all(rest.map(summary));
  const crashIndex = roles2.findIndex((s) => s.alpha.role === 'leader');
  const crashPage = rest[crashIndex];
  const survivors = rest.filter((p) => p !== crashPage);
  publishing = true;
  const publisher2 = (async () => {
    while (publishing) {
      for (const k of topics) published[k].push(await publish(hub, k, seq));
      seq++;
      await sleep(15);
    }
  })();
  await sleep(300);
  const cdp = await context.newCDPSession(crashPage);
  const crashedAt = Date.now();
  cdp.send('Page.crash').catch(() => { /* the session dies with the renderer */ });
  const takeover2 = await until('a tab to take over from the crashed one', async () => {
    const all = await Promise.all(survivors.map(summary));
    return topics.every((k) => all.filter((s) => s[k].role === 'leader' && s[k].state === 'open').length === 1) && Date.now();
  }, 5000, 20);
  log(`B2: tab ${crashPage.index}'s renderer crashed; taken over in ${takeover2 - crashedAt} ms`);
  check(takeover2 - crashedAt <= 2000, `the takeover after a crash took ${takeover2 - crashedAt} ms (bound 2000 ms)`);
  await sleep(500);
  publishing = false;
  await publisher2;
  await checkExactlyOnce(survivors, published);
  await until('3 streams at the hub', async () => (await metrics(hub)).open === 3, 5000);
  log(`B2: PASSED: ${published.alpha.length} events per topic, every surviving tab got each exactly once, in order (${Date.now() - t} ms)`);
  await crashPage.close().catch(() => {});

  // ---- B3: the leader's tab hangs (a long task): a follower takes the lock from it (Web Locks steal) ----
  t = Date.now();
  const roles3 = await Promise.all(survivors.map(summary));
  const hungPage = survivors[roles3.findIndex((x) => x.alpha.role === 'leader')];
  const others = survivors.filter((p) => p !== hungPage);
  publishing = true;
  const publisher3 = (async () => {
    while (publishing) {
      for (const k of topics) published[k].push(await publish(hub, k, seq));
      seq++;
      await sleep(15);
    }
  })();
  await sleep(300);
  const hungAt = Date.now();
  const hang = hungPage.evaluate((ms) => { const end = Date.now() + ms; while (Date.now() < end) { /* a hung page */ } }, 3000).catch(() => {});
  const takeover3 = await until('a tab to take over from the hung one', async () => {
    const all = await Promise.all(others.map(summary));
    return topics.every((k) => all.filter((x) => x[k].role === 'leader' && x[k].state === 'open').length === 1) && Date.now();
  }, 6000, 20);
  log(`B3: tab ${hungPage.index} hangs for 3 s; taken over in ${takeover3 - hungAt} ms (leader timeout ${LEADER_TIMEOUT_MS} ms)`);
  check(takeover3 - hungAt <= LEADER_TIMEOUT_MS + 1000, `the takeover from a hung tab took ${takeover3 - hungAt} ms`);
  await hang;
  await sleep(300);
  publishing = false;
  await publisher3;
  // Back to life, the hung tab follows and catches up: it too has every event exactly once.
  await checkExactlyOnce(survivors, published);
  const back = await summary(hungPage);
  check(topics.every((k) => back[k].role === 'follower'), 'the tab that hung does not follow: ' + JSON.stringify(back));
  await until('3 streams at the hub', async () => (await metrics(hub)).open === 3, 5000);
  log(`B3: PASSED: ${published.alpha.length} events per topic; every tab, the one that hung too, got each exactly once (${Date.now() - t} ms)`);
  await Promise.all(survivors.map((p) => p.close()));
  await until('the hub to see no stream', async () => (await metrics(hub)).open === 0, 5000);

  // ---- C: the control: 8 tabs, sharing off ----
  t = Date.now();
  const solo = await openTabs(context, base, 8, { hub, topics: ['delta'], share: false, form: 'script' });
  await until('6 streams open at the hub', async () => (await metrics(hub)).open === 6, 10000);
  await sleep(1500);   // the two others never get a connection (their watchdog retries: still queued)
  const m3 = await metrics(hub);
  const delta = [];
  for (let i = 0; i < 5; ++i) delta.push(await publish(hub, 'delta', i));
  await sleep(700);
  const counts = await Promise.all(solo.map(async (p) => (await received(p, 'delta')).length));
  const states = await Promise.all(solo.map(async (p) => (await summary(p)).delta.state));
  log(`C: sharing off, 8 tabs: the hub has ${m3.open} open streams; events per tab ${counts.join(' ')}; states ${states.join(' ')}`);
  check(m3.open === 6, `the hub has ${m3.open} open streams for 8 unshared tabs; expected 6 (the browser's HTTP/1.1 limit)`);
  check(counts.filter((n) => n === 5).length === 6 && counts.filter((n) => n === 0).length === 2,
    `expected 6 tabs with the 5 events and 2 stalled with none, got ${counts.join(' ')}`);
  log(`C: PASSED: the control shows the six-connection stall (${Date.now() - t} ms)`);
  await Promise.all(solo.map((p) => p.close()));
  return { takeoverMs };
}

const watchdog = setTimeout(async () => {
  log('FAILED: the test took longer than 90 s; stopping everything');
  await cleanupAll();
  process.exit(1);
}, 90000);
let exitCode = 1;
try {
  await main();
  exitCode = 0;
  log('PASSED');
} catch (e) {
  log('FAILED:', e instanceof TestFailure ? e.message : e.stack);
} finally {
  await cleanupAll();
  clearTimeout(watchdog);
}
process.exit(exitCode);
