// Unit tests of the package's pure helpers (node --test): backoff, Retry-After, id order, the bounded
// deduper, query strings, the buffering detector, and what the interruption messages say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const {
  BufferingDetector, EventDeduper, fullJitterDelay, equalJitterDelay, parseRetryAfter, compareIds, withQuery,
  describeInterruption, parseData, seconds,
} = require('../sse-client.js');



test('full jitter: uniform in [0, min(max, base * 2^attempt)]', () => {
  const b = { baseMs: 100, maxMs: 1000 };
  assert.equal(fullJitterDelay(0, b, () => 0), 0);
  assert.equal(fullJitterDelay(0, b, () => 0.999999), 99);
  assert.equal(fullJitterDelay(1, b, () => 0.5), 100);
  assert.equal(fullJitterDelay(3, b, () => 0.5), 400);
  assert.equal(fullJitterDelay(4, b, () => 0.999999), 999);     // capped by maxMs
  assert.equal(fullJitterDelay(1000, b, () => 0.5), 500);        // no overflow for huge attempts
  for (let i = 0; i < 200; ++i) {
    const d = fullJitterDelay(i % 8, b);
    assert.ok(d >= 0 && d <= Math.min(1000, 100 * 2 ** (i % 8)), `delay ${d}`);
  }
  // Full jitter really spreads: many clients do not reconnect at the same instant.
  const spread = new Set(Array.from({ length: 50 }, () => fullJitterDelay(5, b)));
  assert.ok(spread.size > 10);
});

test('event ids are ordered numerically, part by part, then by length and text', () => {
  assert.ok(compareIds('9', '10') < 0);
  assert.ok(compareIds('10', '9') > 0);
  assert.equal(compareIds('42', '42'), 0);
  assert.equal(compareIds('007', '7'), 0);
  assert.ok(compareIds('1700000000000-3', '1700000000000-12') < 0);
  assert.ok(compareIds('1700000000001-0', '1700000000000-99') > 0);
  assert.ok(compareIds(null, '1') < 0);
  assert.ok(compareIds('1', '') > 0);
  assert.ok(compareIds('123456789012345678901234567890', '123456789012345678901234567891') < 0);
  assert.ok(compareIds('b', 'a') > 0);
  // The installer's ids: a run prefix (hex) and a sequence number.
  assert.ok(compareIds('a3dc01d359551b27-9', 'a3dc01d359551b27-10') < 0);
  assert.ok(compareIds('a3dc01d359551b27-13', 'a3dc01d359551b27-5') > 0);
  assert.equal(compareIds('a3dc01d359551b27-5', 'a3dc01d359551b27-05'), 0);
});

test('the deduper accepts each id exactly once and tracks the last one', () => {
  const d = new EventDeduper();
  assert.equal(d.accept('1'), true);
  assert.equal(d.accept('2'), true);
  assert.equal(d.accept('1'), false);
  assert.equal(d.accept(2), false);   // numbers and strings are the same id
  assert.equal(d.lastId, '2');
  assert.equal(d.accept(null), true); // no id: nothing to dedupe on
  assert.equal(d.lastId, '2');
  assert.equal(d.duplicates, 2);
  assert.equal(d.size, 2);
});

test('withQuery appends parameters and leaves out empty ones', () => {
  assert.equal(withQuery('/e', { lastEventId: '5' }), '/e?lastEventId=5');
  assert.equal(withQuery('/e?x=1', { after: 'a b', limit: 10 }), '/e?x=1&after=a%20b&limit=10');
  assert.equal(withQuery('/e', { lastEventId: null, after: '' }), '/e');
});

test('buffering detector: silence past the ping allowance, server ahead => buffered', () => {
  const d = new BufferingDetector({ pingIntervalMs: 1000 });
  assert.equal(d.silenceLimitMs, 2250);   // twice the interval (+ a little): pings come every 1.25 intervals at worst
  d.reset(0);
  assert.equal(d.overdue(2250), false);
  assert.equal(d.overdue(2251), true);
  d.activity(2300);
  assert.equal(d.overdue(4000), false);
  assert.equal(d.silentFor(4000), 1700);
  assert.equal(d.classify({ overdue: false, serverAhead: true }), 'ok');
  assert.equal(d.classify({ overdue: true, serverAhead: true }), 'buffered');
  assert.equal(d.classify({ overdue: true, serverAhead: false }), 'silent');
  const comments = new BufferingDetector({ pingIntervalMs: 1000, pingEvents: false });
  assert.equal(comments.classify({ overdue: true, serverAhead: false }), 'ok');   // idle is fine
  assert.equal(comments.classify({ overdue: true, serverAhead: true }), 'buffered');
  assert.equal(new BufferingDetector({ pingIntervalMs: 1000, silenceLimitMs: 777 }).silenceLimitMs, 777);
});

test('buffering detector: pings on time are fine, pings flushed in a burst are not', () => {
  const d = new BufferingDetector({ pingIntervalMs: 1000 });
  d.reset(0);
  for (let t = 1000; t <= 10000; t += 1000) assert.equal(d.notePing(t + (t % 3) * 10), 'ok');
  const b = new BufferingDetector({ pingIntervalMs: 1000 });
  b.reset(0);
  assert.equal(b.notePing(1000), 'ok');
  // Then nothing for 5 s, and three pings at once: a proxy flushed its buffer.
  assert.equal(b.notePing(6000), 'ok');
  assert.equal(b.notePing(6005), 'ok');
  assert.equal(b.notePing(6010), 'burst');
});

test('equal jitter stays in [cap/2, cap] with the cap growing and capped', () => {
  const b = { baseMs: 100, maxMs: 1000 };
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((a) => equalJitterDelay(a, b, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((a) => equalJitterDelay(a, b, () => 1)), [100, 200, 400, 800, 1000, 1000]);
});

test('Retry-After: delta-seconds or an HTTP date, bounded, never negative; anything else is ignored', () => {
  assert.equal(parseRetryAfter('5'), 5000);
  assert.equal(parseRetryAfter(' 0 '), 0);
  assert.equal(parseRetryAfter('99999999'), 86400 * 1000);
  const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
  assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:28:30 GMT', now), 30000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now), 0);
  for (const bad of [null, undefined, '', '-3', '1.5', 'soon']) assert.equal(parseRetryAfter(bad), null, String(bad));
});

test('the deduper is bounded: it forgets the oldest ids first, never the recent ones', () => {
  const d = new EventDeduper(3);
  for (const id of ['1', '2', '3', '4']) assert.equal(d.accept(id), true);
  assert.equal(d.size, 3);
  assert.equal(d.has('1'), false);          // forgotten
  assert.equal(d.accept('4'), false);
  assert.equal(d.accept('2'), false);
  assert.equal(d.lastId, '4');
  const big = new EventDeduper(1000);
  for (let i = 0; i < 50000; ++i) big.accept(String(i));
  assert.equal(big.size, 1000);
  assert.ok(big.order.length < 4000, 'the order list is compacted');
  assert.equal(big.accept('49999'), false);
  assert.equal(big.accept('49000'), false);
  assert.equal(big.accept('48999'), true);   // older than the last 1000: forgotten
});

test('withQuery keeps a fragment after the query', () => {
  assert.equal(withQuery('/e#x', { lastEventId: '1-2' }), '/e?lastEventId=1-2#x');
});

test('parseData and seconds', () => {
  assert.deepEqual(parseData('{"a":1}'), { a: 1 });
  assert.equal(parseData('plain text'), 'plain text');
  assert.equal(parseData('42'), 42);
  assert.equal(seconds(1234), '1.2 s');
  assert.equal(seconds(12345), '12 s');
});

test('interruption: the stream URL\'s own answer decides 204 (over) and 401/403/404/410 (refused), before any hook', () => {
  assert.deepEqual(describeInterruption(null, { ok: true, httpStatus: 204 }),
    { kind: 'stopped', httpStatus: 204, message: 'The server answered 204 No Content: the stream is over.' });
  for (const s of [401, 403, 404, 410]) {
    assert.deepEqual(describeInterruption({ ok: true, state: 'running' }, { ok: true, httpStatus: s }),
      { kind: 'refused', httpStatus: s, message: `The server refuses the stream (HTTP ${s}).` });
  }
  assert.deepEqual(describeInterruption(null, { ok: true, httpStatus: 503, retryAfterMs: 2000 }), {
    kind: 'unreachable', httpStatus: 503,
    message: 'The stream was interrupted and the server answered 503 (a proxy cannot reach the server right now), and this page will catch up when it is reachable again.' });
  assert.deepEqual(describeInterruption(null, { ok: true, httpStatus: 200 }),
    { kind: 'running', httpStatus: 200, message: 'The stream was interrupted; the server answers again.' });
  assert.deepEqual(describeInterruption(null, { ok: false, kind: 'network', error: 'network error' }), {
    kind: 'unreachable',
    message: 'The stream was interrupted and the server cannot be reached (network error), and this page will catch up when it is reachable again.' });
  assert.equal(describeInterruption({ ok: true, state: 'running' }, null, 'work goes on').message,
    "The stream was interrupted, for example by a proxy's 502; work goes on.");
});
