// Unit tests of the connection shared between tabs: several ResilientStreams ("tabs") with one
// in-memory Web Locks manager and Node's real BroadcastChannel. One EventSource for all; a leader
// that stops or crashes is replaced and the new one resumes from its last id; a tab that missed events
// gets them replayed; no tab loses or repeats an event; opting out and the fallback.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { FakeLocks, FakeServer, sleep, until } from './fakes.mjs';

const require = createRequire(import.meta.url);
const { ResilientStream } = require('../sse-client.js');

const started = [];
afterEach(() => { while (started.length) started.pop().stop(); });

let keys = 0;
function tabs(server, locks, n, extra = {}) {
  const key = 'test-' + (++keys);
  const out = [];
  for (let i = 0; i < n; ++i) out.push(tab(server, locks, key, extra));
  return out;
}
function tab(server, locks, key, extra = {}) {
  const t = { seen: [], states: [], resets: 0 };
  t.rs = new ResilientStream({
    url: '/events/news', shareKey: key, EventSource: server.EventSource, fetch: server.fetch, locks,
    backoff: { baseMs: 2, maxMs: 10 }, watchdogMs: 5, pingIntervalMs: 1000,
    onEvent: (type, data, id) => t.seen.push(id),
    onState: (state, message, info) => t.states.push({ state, message, info }),
    onReset: () => { t.resets++; t.seen.length = 0; },
    ...extra,
  });
  started.push(t.rs);
  return t;
}
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
const leaderOf = (ts) => ts.filter((t) => t.rs.role === 'leader');

test('four tabs, one connection: every tab gets every event exactly once, in order', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 4);
  for (const t of ts) t.rs.start();
  await until('a connection', () => server.open === 1);
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  for (let i = 0; i < 50; ++i) server.add('message', 'e' + i);
  await until('50 events everywhere', () => ts.every((t) => t.seen.length === 50));
  for (const t of ts) assert.deepEqual(t.seen, range(1, 50));
  assert.equal(server.sources.length, 1, 'one EventSource for all the tabs');
  assert.equal(leaderOf(ts).length, 1);
  assert.deepEqual(ts.map((t) => t.rs.role).sort(), ['follower', 'follower', 'follower', 'leader']);
  for (const t of ts) assert.equal(t.rs.sharing, true);
  const follower = ts.find((t) => t.rs.role === 'follower');
  assert.ok(follower.states.some((s) => s.info.shared && s.state === 'open'), 'followers see the leader\'s state');
});

test('the leader stops mid-stream: another tab takes over, resumes from its last id, nobody loses or repeats an event', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 4);
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  for (let i = 1; i <= 20; ++i) server.add('message', i);
  await until('20 everywhere', () => ts.every((t) => t.seen.length === 20));
  const [old] = leaderOf(ts);
  old.rs.stop();
  for (let i = 21; i <= 25; ++i) server.add('message', i);   // while nobody listens
  const rest = ts.filter((t) => t !== old);
  await until('a new leader', () => leaderOf(rest).length === 1);
  await until('a new connection', () => server.open === 1);
  for (let i = 26; i <= 40; ++i) server.add('message', i);
  await until('40 everywhere', () => rest.every((t) => t.seen.length === 40));
  for (const t of rest) assert.deepEqual(t.seen, range(1, 40));
  assert.equal(server.sources[1].url, '/events/news?lastEventId=20');
  assert.equal(server.sources.length, 2);
  assert.deepEqual(old.seen, range(1, 20));
});

test('the leader crashes (its lock released without a word): a follower takes over at once and resumes', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3);
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  for (let i = 1; i <= 5; ++i) server.add('message', i);
  await until('5 everywhere', () => ts.every((t) => t.seen.length === 5));
  const [old] = leaderOf(ts);
  // A crash: the tab is gone - its connection and channel die with it, the browser frees its lock.
  old.rs.finished = true;
  old.rs._closeStream();
  old.rs._closeChannel();
  locks.crash('sse-client:' + old.rs.shareKey);
  const rest = ts.filter((t) => t !== old);
  const t0 = Date.now();
  await until('a new leader', () => leaderOf(rest).length === 1 && server.open === 1);
  assert.ok(Date.now() - t0 < 500, 'taken over at once');
  for (let i = 6; i <= 9; ++i) server.add('message', i);
  await until('9 everywhere', () => rest.every((t) => t.seen.length === 9));
  for (const t of rest) assert.deepEqual(t.seen, range(1, 9));
});

test('a tab that missed events (its chain of ids breaks) gets them replayed by the leader, in order', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const [a, b] = tabs(server, locks, 2);
  a.rs.start();
  await until('a leads', () => a.rs.role === 'leader' && server.open === 1);
  b.rs.start();
  await until('b ready', () => b.rs.state === 'open' || b.seen.length > 0 || b.rs.role === 'follower');
  await sleep(20);
  // b misses 1..3 (as a tab whose messages were lost would): its channel is deaf for a moment.
  const ch = b.rs._channel;
  const handler = ch.onmessage;
  ch.onmessage = null;
  for (let i = 1; i <= 3; ++i) server.add('message', i);
  await until('a has 3', () => a.seen.length === 3);
  await sleep(20);
  ch.onmessage = handler;
  for (let i = 4; i <= 6; ++i) server.add('message', i);
  await until('b has 6', () => b.seen.length === 6);
  assert.deepEqual(b.seen, range(1, 6));
  assert.ok(a.rs.counters.replays >= 1);
});

test('a tab that joins late gets what the shared connection delivered since it opened, then live', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const [a, b] = tabs(server, locks, 2);
  a.rs.start();
  await until('a open', () => a.rs.state === 'open' && server.open === 1);
  for (let i = 1; i <= 4; ++i) server.add('message', i);
  await until('a has 4', () => a.seen.length === 4);
  b.rs.start();
  await until('b has 4', () => b.seen.length === 4);
  server.add('message', 5);
  await until('both 5', () => a.seen.length === 5 && b.seen.length === 5);
  assert.deepEqual(b.seen, range(1, 5));
  assert.equal(server.sources.length, 1);
});

test('a late tab the leader cannot serve (its buffer overflowed) reads on its own connection', async () => {
  const server = new FakeServer(0, { replayAll: true });
  const locks = new FakeLocks();
  const [a, b] = tabs(server, locks, 2, { replayLimit: 3 });
  a.rs.start();
  await until('a open', () => a.rs.state === 'open' && server.open === 1);
  for (let i = 1; i <= 6; ++i) server.add('message', i);
  await until('a has 6', () => a.seen.length === 6);
  b.rs.start();
  await until('b solo', () => b.rs.role === 'solo');
  await until('b has 6', () => b.seen.length === 6);
  assert.deepEqual(b.seen, range(1, 6));
  assert.equal(server.open, 2);
  assert.ok(b.states.some((s) => /own connection/.test(s.message)));
});

test('opting out (share: false) and the fallback without Web Locks or BroadcastChannel: a connection per tab', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const key = 'test-optout';
  const shared = [tab(server, locks, key), tab(server, locks, key)];
  const out = tab(server, locks, key, { share: false });
  const noLocks = tab(server, null, key);
  const noChannel = tab(server, locks, key, { BroadcastChannel: null });
  for (const t of [...shared, out, noLocks, noChannel]) t.rs.start();
  await until('4 connections', () => server.open === 4);
  assert.deepEqual([out.rs.role, noLocks.rs.role, noChannel.rs.role], ['solo', 'solo', 'solo']);
  server.add('message', 1);
  await until('all have it', () => [...shared, out, noLocks, noChannel].every((t) => t.seen.length === 1));
  await sleep(20);
  assert.equal(server.open, 4);
});

test('done ends every tab; nobody reconnects afterwards', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3);
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  server.add('message', 1);
  server.add('done', { state: 'finished' });
  await until('all done', () => ts.every((t) => t.rs.state === 'done'));
  for (const t of ts) assert.deepEqual(t.seen, ['1', '2']);
  for (const t of ts) assert.deepEqual(t.rs.final, { state: 'finished' });
  await until('the lock to be free (it outlives done by 0.25 s)', () => locks.holders.size === 0, 2000);
  await sleep(30);
  assert.equal(server.sources.length, 1);
});

test('a reset on the shared connection resets every tab, which then take the replay', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3);
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  for (let i = 1; i <= 3; ++i) server.add('message', i);
  await until('3 everywhere', () => ts.every((t) => t.seen.length === 3));
  const es = server.sources[0];
  es.fire('reset', { data: '{"reason":"too-old"}', lastEventId: '3' });
  for (const e of server.events) es.deliver(e);
  server.add('message', 4);
  await until('4 everywhere', () => ts.every((t) => t.seen.length === 4));
  for (const t of ts) { assert.deepEqual(t.seen, range(1, 4)); assert.equal(t.resets, 1); }
});

test('the server refuses the stream (404): every tab fails, none tries again; pings reach the followers', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3);
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  server.sources[0].ping();
  await until('followers saw the ping', () => ts.every((t) => t.rs.lastPingAt != null));
  server.probeStatus = 404;
  server.sources[0].drop();
  await until('all failed', () => ts.every((t) => t.rs.state === 'failed'));
  for (const t of ts) assert.equal(t.states.at(-1).message, 'The server refuses the stream (HTTP 404).');
  await sleep(50);
  assert.equal(server.sources.length, 1);
});

test('a leader that says nothing (its tab frozen or hung) loses the lock: a follower steals it and resumes; the old one follows', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3, { leaderTimeoutMs: 300 });
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  for (let i = 1; i <= 3; ++i) server.add('message', i);
  await until('3 everywhere', () => ts.every((t) => t.seen.length === 3));
  const [old] = leaderOf(ts);
  // Hung: its stream goes on, but nothing it does reaches the other tabs.
  const post = old.rs._post;
  old.rs._post = () => {};
  for (let i = 4; i <= 5; ++i) server.add('message', i);
  const rest = ts.filter((t) => t !== old);
  await until('a follower to take over', () => leaderOf(rest).length === 1, 3000);
  assert.equal(old.rs.role, 'follower', 'the old leader follows once its lock is taken');
  assert.ok(rest.some((t) => t.states.some((s) => /has said nothing for .* takes the connection over/.test(s.message))));
  old.rs._post = post;
  await until('one open connection', () => server.open === 1);
  for (let i = 6; i <= 8; ++i) server.add('message', i);
  await until('8 everywhere', () => ts.every((t) => t.seen.length === 8));
  for (const t of ts) assert.deepEqual(t.seen, range(1, 8));
});

test('a quiet stream does not make followers steal: the leader beats (every third of the timeout, 5 s at most)', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 3, { leaderTimeoutMs: 300 });
  for (const t of ts) t.rs.start();
  await until('every tab ready', () => ts.every((t) => t.rs.state === 'open'));
  await sleep(1000);   // no event, no ping: only beats
  assert.equal(locks.grants, 1, 'nobody stole the lock');
  assert.equal(server.sources.length, 1);
});

test('a frozen tab (the page lifecycle\'s freeze) hands its connection over, and follows again on resume', async (t) => {
  const doc = new EventTarget();
  globalThis.document = doc;
  t.after(() => { delete globalThis.document; });
  const server = new FakeServer();
  const locks = new FakeLocks();
  const ts = tabs(server, locks, 2);
  for (const x of ts) x.rs.start();
  await until('every tab ready', () => ts.every((x) => x.rs.state === 'open'));
  server.add('message', 1);
  await until('1 everywhere', () => ts.every((x) => x.seen.length === 1));
  const [leader] = leaderOf(ts);
  const other = ts.find((x) => x !== leader);
  // Both tabs listen on the same fake document: freeze only the leader's handlers.
  leader.rs._unlisten();
  other.rs._unlisten();
  const freeze = new EventTarget();
  globalThis.document = freeze;
  leader.rs._listenLifecycle();
  freeze.dispatchEvent(new Event('freeze'));
  assert.equal(leader.rs.role, 'follower');
  await until('the other tab leads', () => other.rs.role === 'leader' && server.open === 1);
  server.add('message', 2);
  await until('2 in the leader', () => other.seen.length === 2);
  freeze.dispatchEvent(new Event('resume'));
  server.add('message', 3);
  await until('3 everywhere', () => ts.every((x) => x.seen.length === 3));
  for (const x of ts) assert.deepEqual(x.seen, range(1, 3));
  assert.equal(server.sources.length, 2);
});

test('joinHistory: false - a late tab with no last id joins live (an sse-hub topic), even after the buffer overflowed', async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const [a, b] = tabs(server, locks, 2, { replayLimit: 3, joinHistory: false });
  a.rs.start();
  await until('a open', () => a.rs.state === 'open' && server.open === 1);
  for (let i = 1; i <= 6; ++i) server.add('message', i);
  await until('a has 6', () => a.seen.length === 6);
  b.rs.start();
  await until('b follows', () => b.rs.role === 'follower' && b.rs.lastId === '6');
  for (let i = 7; i <= 9; ++i) server.add('message', i);
  await until('b has 3', () => b.seen.length === 3);
  assert.deepEqual(b.seen, range(7, 9));
  assert.equal(server.sources.length, 1, 'no connection of its own');
});
