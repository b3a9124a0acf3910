// `npm pack` makes a clean tarball: exactly the package's files (no tests, no node_modules, no lock
// file), and the unpacked package works from a fresh project by name, as ESM and CommonJS.
// usage: node test/pack-check.mjs [--npm PATH]      (CTest: js_client_pack)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const npmArg = process.argv.indexOf('--npm');
const npm = npmArg > 0 ? process.argv[npmArg + 1] : 'npm';
const EXPECTED = ['LICENSE', 'README.md', 'index.d.mts', 'index.mjs', 'package.json', 'sse-client.d.ts', 'sse-client.js'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-js-pack-'));
let failed = false;
const fail = (m) => { console.error('FAILED: ' + m); failed = true; };
try {
  const out = execFileSync(npm, ['pack', '--json', '--pack-destination', tmp, '--loglevel=error'], { cwd: root, encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  const info = JSON.parse(out)[0];
  const files = info.files.map((f) => f.path).sort();
  console.log(`${info.filename}: ${info.entryCount} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);
  for (const f of info.files) console.log(`  ${String(f.size).padStart(7)}  ${f.path}`);
  if (JSON.stringify(files) !== JSON.stringify(EXPECTED)) fail(`the tarball holds ${files.join(', ')}; expected ${EXPECTED.join(', ')}`);
  const tarball = path.join(tmp, info.filename);
  const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
  if (JSON.stringify(listed) !== JSON.stringify(EXPECTED.map((f) => 'package/' + f))) fail('tar lists: ' + listed.join(', '));
  // A fresh project that has it installed (unpacked into node_modules, as npm would).
  const app = path.join(tmp, 'app');
  const dest = path.join(app, 'node_modules', 'sse-resilient-client');
  fs.mkdirSync(dest, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', dest, '--strip-components=1']);
  fs.writeFileSync(path.join(app, 'esm.mjs'), "import d, { ResilientStream, VERSION } from 'sse-resilient-client';\n" +
    "if (typeof ResilientStream !== 'function' || d.ResilientStream !== ResilientStream) process.exit(3);\nconsole.log('esm', VERSION);\n");
  fs.writeFileSync(path.join(app, 'cjs.cjs'), "const c = require('sse-resilient-client');\n" +
    "if (typeof c.ResilientStream !== 'function') process.exit(3);\nconsole.log('cjs', c.VERSION);\n");
  for (const f of ['esm.mjs', 'cjs.cjs']) {
    const r = execFileSync(process.execPath, [f], { cwd: app, encoding: 'utf8' }).trim();
    console.log('  ' + r + ' (from the unpacked tarball)');
    if (!r.endsWith(info.version)) fail(`${f} printed ${r}`);
  }
} catch (e) {
  fail(e.message);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
