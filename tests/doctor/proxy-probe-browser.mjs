// The installer page's path test (examples/installer/web/static/proxy-probe.js) in headless Chromium
// against the real sse-installer --probe: directly (the row must say "clean"), and through nginx
// ignoring X-Accel-Buffering with its default HTTP/1.0 upstream (the row must say BUFFERED); and
// without --probe (the row says how to turn it on).
//   node proxy-probe-browser.mjs --installer PATH [--web-dir DIR] [--client-dir DIR]
//                                [--chromium /usr/bin/chromium] [--nginx /usr/sbin/nginx]
// playwright-core comes from tests/node (scripts/test-setup.sh installs it). A missing tool FAILS.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = { chromium: '/usr/bin/chromium', nginx: '/usr/sbin/nginx', installer: '', 'web-dir': '', 'client-dir': '' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const cleanups = [];
const fail = (msg) => { console.error('FAIL: ' + msg); process.exitCode = 1; };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-proxy-probe-'));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

/** Starts a process; resolves once its output matches `ready` (or rejects after 15 s). */
function start(cmd, argv, ready, name) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(name + ' did not start:\n' + out)), 15000);
    const on = (d) => { out += d; const m = ready.exec(out); if (m) { clearTimeout(timer); resolve({ p, m }); } };
    p.stdout.on('data', on);
    p.stderr.on('data', on);
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(name + ' exited (' + code + '):\n' + out)); });
    cleanups.push(() => { p.removeAllListeners('exit'); p.kill('SIGTERM'); });
  });
}

async function installer(extra, dir) {
  const dirs = [];
  if (args['web-dir']) dirs.push('--web-dir', args['web-dir']);
  if (args['client-dir']) dirs.push('--client-dir', args['client-dir']);
  const { m } = await start(args.installer, ['--port', '0', '--data-dir', path.join(tmp, dir), '--quiet', ...dirs, ...extra],
    /listening on http:\/\/127\.0\.0\.1:(\d+)/, 'sse-installer');
  return Number(m[1]);
}

async function nginxIgnoringAccel(upstream) {
  const port = await freePort();
  const dir = path.join(tmp, 'nginx') + '/';
  fs.mkdirSync(dir, { recursive: true });
  const conf = (process.getuid && process.getuid() === 0 ? 'user root;\n' : '') +
    `worker_processes 1;\npid ${dir}nginx.pid;\nerror_log ${dir}error.log info;\nevents { worker_connections 64; }\n` +
    `http { access_log off; client_body_temp_path ${dir}cbt; proxy_temp_path ${dir}pt; fastcgi_temp_path ${dir}ft;\n` +
    `  uwsgi_temp_path ${dir}ut; scgi_temp_path ${dir}st;\n` +
    `  server { listen 127.0.0.1:${port}; proxy_ignore_headers X-Accel-Buffering;\n` +
    `    location / { proxy_pass http://127.0.0.1:${upstream}; proxy_set_header Host 127.0.0.1:${port}; } } }\n`;
  fs.writeFileSync(dir + 'nginx.conf', conf);
  const p = spawn(args.nginx, ['-p', dir, '-c', dir + 'nginx.conf', '-e', dir + 'error.log', '-g', 'daemon off;'],
    { stdio: 'ignore' });
  cleanups.push(() => p.kill('SIGTERM'));
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => { const s = net.connect(port, '127.0.0.1', () => { s.end(); r(true); }); s.on('error', () => r(false)); });
    if (ok) return port;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start: ' + fs.readFileSync(dir + 'error.log', 'utf8'));
}

async function pathTest(context, port) {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  const row = page.locator('#conn-path-test');
  await page.waitForFunction(() => {
    const d = document.getElementById('conn-path-test');
    return d && (d.dataset.verdict || /not available|answered HTTP/.test(d.textContent));
  }, null, { timeout: 20000 });
  const result = { verdict: await row.getAttribute('data-verdict'), text: await row.textContent() };
  await page.close();
  return result;
}

try {
  for (const [what, p] of [['chromium', args.chromium], ['nginx', args.nginx], ['sse-installer (--installer)', args.installer]])
    if (!p || !fs.existsSync(p)) throw new Error(what + ' not found at ' + p);
  const require = createRequire(path.join(here, '..', 'node', 'package.json'));
  const { chromium } = require('playwright-core');
  const direct = await installer(['--probe'], 'direct');
  const off = await installer([], 'off');
  const proxied = await nginxIgnoringAccel(await installer(['--probe', '--allowed-host', '127.0.0.1'], 'proxied'));
  const profile = fs.mkdtempSync(path.join(tmp, 'profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium, headless: true, timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-dev-shm-usage'],
  });
  cleanups.push(() => context.close());
  const t0 = Date.now();
  const [a, b, c] = await Promise.all([pathTest(context, direct), pathTest(context, proxied), pathTest(context, off)]);
  console.log('direct:  ' + a.verdict + ' - ' + a.text);
  console.log('nginx:   ' + b.verdict + ' - ' + b.text);
  console.log('off:     ' + c.text);
  console.log('path tests took ' + (Date.now() - t0) / 1000 + ' s');
  if (a.verdict !== 'clean') fail('direct: expected clean');
  if (!/Last-Event-ID reaches the server/.test(a.text)) fail('direct: the reconnect must carry Last-Event-ID');
  if (b.verdict !== 'problem' || !/BUFFERED/.test(b.text)) fail('through nginx ignoring X-Accel-Buffering: expected BUFFERED');
  if (!/start sse-installer with --probe/.test(c.text)) fail('without --probe: expected the hint');
} catch (e) {
  fail(e.stack || String(e));
} finally {
  for (const c of cleanups.reverse()) { try { await c(); } catch (_) { /* */ } }
  fs.rmSync(tmp, { recursive: true, force: true });
}
