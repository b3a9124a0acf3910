// Cross-site request forgery against the installer, with a real browser: headless Chromium (Debian's
// `chromium`, driven by the pinned `playwright-core`) opens a page served by ANOTHER origin (a small
// HTTP server here, on another port and host name) that tries to start an install on the real
// sse-installer: an auto-submitted form POST, a "simple" fetch() POST (text/plain, no preflight),
// a no-cors fetch(), and fetch() calls with the JSON type or the X-Installer-Request header (these
// need a CORS preflight). The test then asks the installer's API: no job was started, and its log
// shows the simple requests did arrive and were refused. A control: the same fetch() from the
// installer's own page starts a job (202), so the browser and the server do work.
//
// usage: node installer-csrf.mjs --installer PATH --web-dir DIR [--chromium /usr/bin/chromium]
// Every process is started here, every wait is bounded, everything is stopped at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const args = { chromium: '/usr/bin/chromium' };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error('bad argument: ' + argv[i]);
    args[argv[i].slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  for (const k of ['installer', 'webDir']) if (!args[k]) throw new Error('missing --' + k);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T0 = Date.now();
const log = (...m) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s]`, ...m);
class TestFailure extends Error {}
function check(cond, message) { if (!cond) throw new TestFailure(message); }

const cleanups = [];
async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { await Promise.race([fn(), sleep(5000)]); } catch (e) { log('cleanup error:', e.message); }
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-csrf-'));
cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));

async function startInstaller() {
  const dataDir = path.join(tmp, 'data');
  const child = spawn(args.installer, ['--port', '0', '--data-dir', dataDir, '--step-delay', '0', '--quiet',
    '--web-dir', args.webDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => child.on('exit', r));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(3000)]))) child.kill('SIGKILL');
    }
  });
  const end = Date.now() + 10000;
  for (;;) {
    const m = /listening on http:\/\/[^:\s]+:(\d+)/.exec(out);
    if (m) return { port: Number(m[1]), base: `http://127.0.0.1:${m[1]}`, dataDir };
    check(child.exitCode === null, 'sse-installer exited before listening: ' + out);
    check(Date.now() < end, 'sse-installer did not print its port within 10 s: ' + out);
    await sleep(50);
  }
}

/** The attacker's site: one page that tries every way a page can POST to another origin. */
function attackerPage(target) {
  return `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="${target}" target="sink"><input name="x" value="1"></form>
<script>
window.results = {};
async function attempt(name, init) {
  try { const r = await fetch(${JSON.stringify(target)}, init); window.results[name] = 'status ' + r.status; }
  catch (e) { window.results[name] = 'error ' + e.message; }
}
(async () => {
  document.getElementById('sink').addEventListener('load', () => { window.results.form = 'submitted'; });
  document.getElementById('f').submit();
  await attempt('simple', { method: 'POST', body: 'x=1', headers: { 'Content-Type': 'text/plain' } });
  await attempt('urlencoded', { method: 'POST', body: new URLSearchParams({ x: '1' }) });
  await attempt('nocors', { method: 'POST', mode: 'no-cors', headers: { 'X-Installer-Request': '1', 'Content-Type': 'application/json' } });
  await attempt('json', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
  await attempt('header', { method: 'POST', headers: { 'X-Installer-Request': '1' } });
  window.results.done = true;
})();
</script></body></html>`;
}

async function main() {
  try { fs.accessSync(args.chromium, fs.constants.X_OK); } catch {
    throw new TestFailure(`chromium is not installed (looked for ${args.chromium}); scripts/test.sh installs it - this test does not skip`);
  }
  let chromium;
  try { ({ chromium } = await import('playwright-core')); } catch (e) {
    throw new TestFailure('playwright-core is not installed in tests/node (run `npm ci` in tests/node): ' + e.message);
  }
  const inst = await startInstaller();
  log(`sse-installer on port ${inst.port}`);
  const target = `${inst.base}/api/components/docs-bundle/install`;

  const site = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(attackerPage(target));
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => site.close(() => r())));
  const siteUrl = `http://localhost:${site.address().port}/`;  // another host name and port: cross-site
  log(`attacker page on ${siteUrl}`);

  const profile = fs.mkdtempSync(path.join(tmp, 'profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium, headless: true, timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  cleanups.push(() => context.close());

  const page = await context.newPage();
  await page.goto(siteUrl, { timeout: 15000 });
  await page.waitForFunction(() => window.results && window.results.done && window.results.form, null, { timeout: 15000 });
  const results = await page.evaluate(() => window.results);
  log('attacker page results:', JSON.stringify(results));
  // The simple requests reach the server and get 403, which CORS hides from the page (an error);
  // the preflighted ones stop at the preflight.
  for (const k of ['simple', 'urlencoded', 'json', 'header']) check(results[k].startsWith('error'), `${k}: the page could read the answer: ${results[k]}`);

  const jobs = await (await fetch(`${inst.base}/api/jobs`)).json();
  check(Array.isArray(jobs.jobs) && jobs.jobs.length === 0, 'a cross-site request started a job: ' + JSON.stringify(jobs));
  const comps = await (await fetch(`${inst.base}/api/components`)).json();
  check(comps.components.every((c) => !c.running_job && !c.installed), 'a component was touched: ' + JSON.stringify(comps));
  // They did arrive: form, simple, urlencoded and no-cors requests each left a refusal in the log.
  const daily = fs.readdirSync(inst.dataDir).filter((f) => f.startsWith('installer-'))
    .map((f) => fs.readFileSync(path.join(inst.dataDir, f), 'utf8')).join('');
  const refused = daily.split('\n').filter((l) => l.includes('refused POST /api/components/docs-bundle/install'));
  log(`refusals in the installer's log: ${refused.length}`);
  check(refused.length >= 4, 'expected at least 4 refused POSTs in the log (form, simple, urlencoded, no-cors):\n' + daily);

  // Control: the installer's own page may start an install, with the header its app.js sends.
  const own = await context.newPage();
  await own.goto(inst.base + '/', { timeout: 15000 });
  const status = await own.evaluate(async (url) => (await fetch(url, { method: 'POST', headers: { 'X-Installer-Request': '1' } })).status, target);
  check(status === 202, `the installer's own page got ${status}, not 202`);
  const after = await (await fetch(`${inst.base}/api/jobs`)).json();
  check(after.jobs.length === 1, 'the own page did not start exactly one job: ' + JSON.stringify(after));
  log('own page: 202, one job');
}

const watchdog = setTimeout(async () => { log('FAILED: took longer than 90 s'); await cleanupAll(); process.exit(1); }, 90000);
let code = 1;
try {
  await main();
  log('PASSED');
  code = 0;
} catch (e) {
  log('FAILED:', e instanceof TestFailure ? e.message : e.stack);
} finally {
  await cleanupAll();
  clearTimeout(watchdog);
}
process.exit(code);
