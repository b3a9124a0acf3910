// The package's shape: the ES module entry and the CommonJS form export the same API; the script-tag
// form defines the global SSEClient (and works when loaded as a module, as index.mjs does in a
// browser); the TypeScript declarations name every export; package.json has no runtime dependency and
// every file it points to exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cjs = require('../sse-client.js');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('ESM and CommonJS export the same API (named and default)', async () => {
  const esm = await import('../index.mjs');
  const names = Object.keys(cjs).sort();
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), names);
  assert.equal(esm.default, cjs);
  for (const k of names) assert.equal(esm[k], cjs[k], k);
  assert.equal(cjs.VERSION, pkg.version);
});

test('the script-tag form: a classic script defines the global SSEClient and nothing else', () => {
  const code = fs.readFileSync(path.join(root, 'sse-client.js'), 'utf8');
  const window = { console };
  window.globalThis = window;
  const ctx = vm.createContext(window);
  const before = new Set(Object.keys(ctx));
  vm.runInContext(code, ctx, { filename: 'sse-client.js' });
  const added = Object.keys(ctx).filter((k) => !before.has(k));
  assert.deepEqual(added, ['SSEClient']);
  assert.deepEqual(Object.keys(ctx.SSEClient).sort(), Object.keys(cjs).sort());
  assert.equal(typeof ctx.SSEClient.ResilientStream, 'function');
});

test('loaded as an ES module (how index.mjs gets it in a browser), it registers the global', async () => {
  const code = fs.readFileSync(path.join(root, 'sse-client.js'), 'utf8');
  const g = {};
  const ctx = vm.createContext(g);
  // A module has no `module`, no `this`, strict mode: the same as running the file as a module body.
  vm.runInContext('"use strict"; (function () {' + code + '\n}).call(undefined);', ctx);
  assert.equal(typeof ctx.SSEClient.ResilientStream, 'function');
});

test('the TypeScript declarations name every runtime export, and nothing that is not there', () => {
  const dts = fs.readFileSync(path.join(root, 'sse-client.d.ts'), 'utf8');
  const declared = new Set([...dts.matchAll(/^\s{2}(?:const|function|class)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(cjs).sort());
  const mts = fs.readFileSync(path.join(root, 'index.d.mts'), 'utf8');
  const esmDeclared = new Set([...mts.matchAll(/^export declare const ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]));
  assert.deepEqual([...esmDeclared].sort(), Object.keys(cjs).sort());
  // Every option the code reads has a declaration.
  const opts = Object.keys(cjs.DEFAULTS).concat(['EventSource', 'fetch', 'now', 'random', 'locks', 'BroadcastChannel']);
  const block = dts.slice(dts.indexOf('interface ResilientStreamOptions'), dts.indexOf('interface Counters'));
  for (const o of opts) assert.match(block, new RegExp('\\n\\s+' + o + '\\??:'), 'option ' + o + ' is not declared');
});

test('package.json: no runtime dependencies; main, module, types, exports and files point at real files', () => {
  assert.equal(pkg.dependencies, undefined);
  assert.deepEqual(Object.keys(pkg.devDependencies), ['typescript']);
  const targets = [pkg.main, pkg.module, pkg.types, pkg.browser];
  const walk = (v) => { if (typeof v === 'string') targets.push(v); else if (v) Object.values(v).forEach(walk); };
  walk(pkg.exports);
  for (const t of targets) assert.ok(fs.existsSync(path.join(root, t)), t);
  for (const f of pkg.files) assert.ok(fs.existsSync(path.join(root, f)), f);
  const code = fs.readFileSync(path.join(root, 'sse-client.js'), 'utf8').split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join('\n');
  assert.ok(!/\b(require|import)\s*\(/.test(code), 'no import of another module');
});
