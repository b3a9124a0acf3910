/**
 * sse-client.js - a resilient Server-Sent Events reader for the browser, built on EventSource, with
 * one connection shared by every tab of an origin. No dependencies, no build step.
 *
 *   <script src="sse-client.js"></script>        defines the global `SSEClient`
 *   import { ResilientStream } from 'sse-resilient-client'   (index.mjs, the ES module entry)
 *   const { ResilientStream } = require('sse-resilient-client')   (CommonJS, e.g. for tests)
 *
 * What a native EventSource does not do, and ResilientStream does:
 *   - a reconnect answered with anything but 200 text/event-stream (a proxy's 502, a 503) makes a native
 *     EventSource give up for good. ResilientStream closes the EventSource on any error, looks at what
 *     the server answers (the stream URL's HTTP status and Retry-After, and an optional `checkStatus`
 *     hook of the application), says it, and reconnects with full-jitter backoff (random in
 *     [0, min(maxMs, baseMs * 2^attempt)], never sooner than the server's Retry-After), resuming with
 *     `?lastEventId=<last id>`. 204 stops for good; 401/403/404/410 fail for good;
 *   - never delivers an event twice (deduplicated by id, a bounded memory), so a resume may overlap;
 *   - watches the stream: with visible pings (`event: ping`, the server's `--ping-form event`), a stream
 *     silent for twice the ping interval (+ 0.25 s) is dead or held by a buffering proxy: it says so at
 *     once, asks `checkStatus` (bounded by `statusTimeoutMs`), and reconnects - or, when the server has
 *     events this page has not seen, reports buffering and polls. Pings arriving in a burst also mean
 *     buffering;
 *   - with a `poll` hook: after `maxStreamFailures` failures in a row while the server answers (or on
 *     buffering), reads the events by polling, tries streaming again now and then (the interval doubles
 *     up to 60 s) and goes back to it as soon as it delivers;
 *   - `event: reset` (the server cannot resume from our id): tells the page to forget what it shows
 *     (`onReset`) and takes the server's replay that follows; `event: gap` (a slow client skipped
 *     events, drop policy): `onGap`;
 *   - finishes on the server's word only: an event named `doneEvent` ('done'), a 204, or the final state
 *     that `poll`/`checkStatus` report;
 *   - shares ONE connection between the tabs of an origin that read the same URL (`share`, on by
 *     default): a leader tab chosen with the Web Locks API holds the EventSource and passes every event
 *     and state on a BroadcastChannel. When the leader closes or crashes, the browser releases its lock
 *     and another tab takes over at once, resuming from its last id; every tab keeps its own dedupe and
 *     a chain of ids (each event names the one before it), so no tab loses or repeats an event: a tab
 *     that missed one asks the leader to replay it from a bounded buffer, or falls back to a connection
 *     of its own. Where Web Locks or BroadcastChannel are missing, each tab has its own connection.
 *
 * See README.md for the options, the hooks' contracts and the state names.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === 'object' && module && module.exports) module.exports = api;
  else root.SSEClient = api;
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  const VERSION = '0.1.0';

  // ---- small pure helpers ----------------------------------------------------------------------

  /** Full-jitter backoff: a random delay in [0, min(maxMs, baseMs * 2^attempt)] (attempt from 0). */
  function fullJitterDelay(attempt, backoff, random) {
    const base = Math.max(0, backoff && backoff.baseMs != null ? backoff.baseMs : 500);
    const max = Math.max(0, backoff && backoff.maxMs != null ? backoff.maxMs : 8000);
    const a = Math.max(0, Math.min(30, Math.floor(attempt || 0)));
    const cap = Math.min(max, base * Math.pow(2, a));
    const r = (random || Math.random)();
    return Math.floor(Math.min(1, Math.max(0, r)) * cap);
  }

  /**
   * Equal jitter: a random delay in [cap/2, cap] with cap = min(maxMs, baseMs * 2^attempt). Never
   * (close to) zero, so a bounded number of attempts really spans some time.
   */
  function equalJitterDelay(attempt, backoff, random) {
    const cap = fullJitterDelay(attempt, backoff, () => 1);
    const r = Math.min(1, Math.max(0, (random || Math.random)()));
    return Math.floor(cap / 2 + r * (cap - cap / 2));
  }

  /**
   * A Retry-After header value in milliseconds: delta-seconds or an HTTP date (relative to `now`);
   * null when absent or unreadable. Never negative.
   */
  function parseRetryAfter(value, now) {
    if (value == null) return null;
    const s = String(value).trim();
    if (s === '') return null;
    if (/^\d+$/.test(s)) return Math.min(Number(s), 86400) * 1000;
    if (!/^[A-Za-z]{3},? /.test(s) || !/\d{4}/.test(s)) return null;   // an HTTP date: "Wed, 21 Oct 2026 07:28:00 GMT"
    const t = Date.parse(s);
    if (isNaN(t)) return null;
    return Math.max(0, t - (now != null ? now : Date.now()));
  }

  /**
   * Orders two event ids: numbers numerically ("9" < "10"), ids made of parts joined by '-' (such as
   * "1700000000000-3" or "a3dc01d3-12") part by part, each part numerically when both are digits,
   * else by length then text. Returns <0, 0 or >0; null/'' sorts first.
   */
  function compareIds(a, b) {
    a = a == null ? '' : String(a);
    b = b == null ? '' : String(b);
    if (a === b) return 0;
    if (a === '') return -1;
    if (b === '') return 1;
    const pa = a.split('-'), pb = b.split('-');
    const n = Math.max(pa.length, pb.length);
    for (let i = 0; i < n; ++i) {
      let x = pa[i], y = pb[i];
      if (x === y) continue;
      if (x === undefined) return -1;
      if (y === undefined) return 1;
      if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
        x = x.replace(/^0+(?=\d)/, '');
        y = y.replace(/^0+(?=\d)/, '');
        if (x === y) continue;
      }
      if (x.length !== y.length) return x.length - y.length;
      return x < y ? -1 : 1;
    }
    return 0;
  }

  /**
   * Remembers the ids seen: accept(id) is true exactly once per id among the last `limit` ids (the
   * oldest are forgotten first, so memory stays bounded on an endless stream). Events without id
   * always pass.
   */
  class EventDeduper {
    constructor(limit) {
      this.limit = limit > 0 ? Math.floor(limit) : 10000;
      this.seen = new Set();
      this.order = [];
      this.head = 0;
      this.lastId = null;
      this.duplicates = 0;
    }
    accept(id) {
      if (id == null || id === '') return true;
      id = String(id);
      if (this.seen.has(id)) { this.duplicates++; return false; }
      this.seen.add(id);
      this.order.push(id);
      if (this.order.length - this.head > this.limit) {
        this.seen.delete(this.order[this.head]);
        this.order[this.head++] = undefined;
        if (this.head > 1024 && this.head * 2 > this.order.length) { this.order = this.order.slice(this.head); this.head = 0; }
      }
      this.lastId = id;
      return true;
    }
    has(id) { return id != null && this.seen.has(String(id)); }
    get size() { return this.seen.size; }
  }

  /**
   * Decides, from arrival times alone, whether a stream is healthy. Pure: the caller passes `now`.
   * - overdue(now): nothing at all (event, ping, open) for longer than twice the ping interval (plus a
   *   small slack): the server pings a stream idle for one interval on its next keepalive tick (every
   *   quarter interval), so a healthy stream is never silent for more than 1.25 intervals.
   * - notePing(now): 'burst' when `burstCount` pings arrive within a short window after a silence,
   *   which is what a buffering proxy does when it finally flushes; else 'ok'.
   * - classify({overdue, serverAhead}): 'buffered' when the server has events we have not received,
   *   'silent' when pings should have come but did not, else 'ok'.
   */
  class BufferingDetector {
    constructor(opts) {
      opts = opts || {};
      this.pingIntervalMs = opts.pingIntervalMs > 0 ? opts.pingIntervalMs : 15000;
      this.pingEvents = opts.pingEvents !== false;
      this.factor = opts.silenceFactor || 2;
      this.slackMs = opts.slackMs != null ? opts.slackMs : 250;
      this.burstCount = opts.burstCount || 3;
      this.burstWindowMs = Math.max(50, this.pingIntervalMs * (opts.burstWindowFactor || 0.25));
      this.limitOverride = opts.silenceLimitMs || null;
      this.reset(0);
    }
    /** How long a stream may stay silent before we look closer. */
    get silenceLimitMs() {
      if (this.limitOverride) return this.limitOverride;
      return Math.round(this.pingIntervalMs * this.factor + this.slackMs);
    }
    reset(now) { this.lastActivity = now; this.pings = []; this.lastPingAt = null; }
    activity(now) { this.lastActivity = now; }
    silentFor(now) { return Math.max(0, now - this.lastActivity); }
    overdue(now) { return this.silentFor(now) > this.silenceLimitMs; }
    notePing(now) {
      const gapBefore = this.lastPingAt == null ? now - this.lastActivity : now - this.lastPingAt;
      this.pings.push({ at: now, gapBefore });
      if (this.pings.length > this.burstCount) this.pings.shift();
      this.lastPingAt = now;
      this.lastActivity = now;
      if (this.pings.length < this.burstCount) return 'ok';
      const first = this.pings[0];
      const span = now - first.at;
      // Healthy pings are at least an interval apart (they are sent only on idle streams).
      if (span <= this.burstWindowMs && first.gapBefore > this.pingIntervalMs * 1.5) return 'burst';
      return 'ok';
    }
    classify(s) {
      if (!s.overdue) return 'ok';
      if (s.serverAhead) return 'buffered';
      return this.pingEvents ? 'silent' : 'ok';
    }
  }

  /** url + ?k=v (or &k=v); null/undefined/'' values are left out. */
  function withQuery(url, params) {
    const parts = [];
    for (const k of Object.keys(params)) {
      const v = params[k];
      if (v == null || v === '') continue;
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
    }
    if (!parts.length) return url;
    const hash = url.indexOf('#');
    const base = hash >= 0 ? url.slice(0, hash) : url;
    return base + (base.indexOf('?') >= 0 ? '&' : '?') + parts.join('&') + (hash >= 0 ? url.slice(hash) : '');
  }

  /** Event data as JSON when it is JSON, else the text itself. */
  function parseData(text) {
    if (typeof text !== 'string') return text;
    try { return JSON.parse(text); } catch (_) { return text; }
  }

  function seconds(ms) { return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s'; }

  // ---- JSON requests ---------------------------------------------------------------------------

  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

  /** Shape checks for fetchJson: each returns null when a body fits, else what is wrong with it. */
  const SHAPES = {
    object: (b) => (isObject(b) ? null : 'not a JSON object'),
    any: () => null,
  };

  /**
   * One JSON request: bounded by `timeoutMs` (an AbortController, body included), body read as text,
   * parsed, and checked with `shape` (a SHAPES key or a function returning null or what is wrong).
   * Never throws. Answers
   *   {ok: true, httpStatus, body, headers}
   *   {ok: false, kind: 'http', httpStatus, body (parsed or null), error, retryAfterMs}   (not 2xx)
   *   {ok: false, kind: 'truncated' | 'shape', httpStatus, error}                        (2xx, unusable body)
   *   {ok: false, kind: 'timeout' | 'network', error}
   * `error` is a short text for the user.
   */
  async function fetchJson(fetchFn, url, opts) {
    opts = opts || {};
    const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let timedOut = false;
    const timer = ctl && opts.timeoutMs > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, opts.timeoutMs) : null;
    const outer = opts.signal;
    const onOuter = () => ctl && ctl.abort();
    if (outer && ctl) { if (outer.aborted) ctl.abort(); else outer.addEventListener('abort', onOuter); }
    const init = Object.assign({ cache: 'no-store' }, opts.init || {});
    init.headers = Object.assign({ Accept: 'application/json' }, (opts.init && opts.init.headers) || {});
    if (ctl) init.signal = ctl.signal;
    const failed = () => (timedOut
      ? { ok: false, kind: 'timeout', error: 'no answer within ' + seconds(opts.timeoutMs) }
      : { ok: false, kind: 'network', error: 'network error' });
    try {
      let res;
      try { res = await (fetchFn || fetch)(url, init); } catch (_) { return failed(); }
      let text = null;
      try {
        text = typeof res.text === 'function' ? await res.text() : JSON.stringify(await res.json());
      } catch (_) {
        if (timedOut) return failed();
        text = null;   // the body broke off (a proxy or the server died while sending it)
      }
      let body;
      let parsed = false;
      if (typeof text === 'string' && text !== '') {
        try { body = JSON.parse(text); parsed = true; } catch (_) { parsed = false; }
      }
      if (!res.ok) {
        const b = parsed ? body : null;
        const ra = res.headers && typeof res.headers.get === 'function' ? parseRetryAfter(res.headers.get('Retry-After')) : null;
        const r = { ok: false, kind: 'http', httpStatus: res.status, body: b,
          error: isObject(b) && typeof b.error === 'string' ? b.error + ' (HTTP ' + res.status + ')' : 'HTTP ' + res.status };
        if (ra != null) r.retryAfterMs = ra;
        return r;
      }
      if (!parsed) {
        return { ok: false, kind: 'truncated', httpStatus: res.status, error: "the server's answer was cut off" };
      }
      const check = typeof opts.shape === 'function' ? opts.shape : SHAPES[opts.shape || 'object'];
      const wrong = check ? check(body) : null;
      if (wrong) {
        return { ok: false, kind: 'shape', httpStatus: res.status,
          error: "the server's answer is not what this page expects (" + wrong + ')' };
      }
      return { ok: true, httpStatus: res.status, body };
    } finally {
      if (timer) clearTimeout(timer);
      if (outer && ctl) outer.removeEventListener('abort', onOuter);
    }
  }

  /**
   * Repeats a JSON request until `agrees(body)` (default: any valid answer) or `maxAttempts` answers,
   * waiting equalJitterDelay(attempt, backoff) between them. `onAttempt(result, {attempt, agreed,
   * willRetry, delayMs})` sees every answer (to render it, or say why it will try again);
   * `cancelled()` stops it between attempts. Answers {ok, body, attempts, last (the last result)}.
   */
  async function reloadUntil(fetchFn, url, opts) {
    opts = opts || {};
    const maxAttempts = Math.max(1, opts.maxAttempts || 8);
    const backoff = Object.assign({ baseMs: 500, maxMs: 5000 }, opts.backoff || {});
    for (let attempt = 0; ; ++attempt) {
      const r = await fetchJson(fetchFn, url, { shape: opts.shape, timeoutMs: opts.timeoutMs, init: opts.init });
      if (opts.cancelled && opts.cancelled()) return { ok: false, cancelled: true, attempts: attempt + 1, last: r };
      const agreed = r.ok && (!opts.agrees || !!opts.agrees(r.body));
      const willRetry = !agreed && attempt + 1 < maxAttempts;
      const delayMs = willRetry ? equalJitterDelay(attempt, backoff, opts.random) : 0;
      if (opts.onAttempt) {
        try { opts.onAttempt(r, { attempt: attempt + 1, maxAttempts, agreed, willRetry, delayMs }); } catch (e) { console.error(e); }
      }
      if (agreed) return { ok: true, body: r.body, attempts: attempt + 1, last: r };
      if (!willRetry) return { ok: false, attempts: attempt + 1, last: r };
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (opts.cancelled && opts.cancelled()) return { ok: false, cancelled: true, attempts: attempt + 1, last: r };
    }
  }

  /**
   * Asks the stream URL itself what it answers now, without keeping the stream: a GET with
   * `Accept: text/event-stream`, aborted as soon as the response head is in (or after `timeoutMs`).
   * This is what a native EventSource never tells: the status (204 = stop, 502 = a proxy) and
   * Retry-After. Answers {ok: true, httpStatus, retryAfterMs, contentType} or {ok: false, kind:
   * 'timeout'|'network', error}. Never throws.
   */
  async function probeStream(fetchFn, url, opts) {
    opts = opts || {};
    if (!fetchFn) return { ok: false, kind: 'network', error: 'no fetch' };
    const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let timedOut = false;
    const timer = ctl && opts.timeoutMs > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, opts.timeoutMs) : null;
    try {
      const init = { cache: 'no-store', headers: { Accept: 'text/event-stream' } };
      if (opts.withCredentials) init.credentials = 'include';
      if (ctl) init.signal = ctl.signal;
      const res = await fetchFn(url, init);
      const h = res.headers && typeof res.headers.get === 'function' ? res.headers : null;
      const out = { ok: true, httpStatus: res.status,
        retryAfterMs: h ? parseRetryAfter(h.get('Retry-After'), opts.now) : null,
        contentType: h ? (h.get('Content-Type') || '') : '' };
      return out;
    } catch (_) {
      return timedOut ? { ok: false, kind: 'timeout', error: 'no answer within ' + seconds(opts.timeoutMs) }
        : { ok: false, kind: 'network', error: 'network error' };
    } finally {
      if (timer) clearTimeout(timer);
      if (ctl) { try { ctl.abort(); } catch (_) { /* the body is not wanted */ } }
    }
  }

  /** Runs `fn(signal)` and answers its result, or `onTimeout()` after `ms` (aborting the signal). */
  async function withTimeout(ms, fn, onTimeout) {
    const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let timer = null;
    const expired = new Promise((resolve) => {
      timer = setTimeout(() => { if (ctl) ctl.abort(); resolve(onTimeout()); }, ms);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => fn(ctl ? ctl.signal : undefined)), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What to tell the user after the stream broke, from the probes:
   *   status: the checkStatus hook's answer (or null without a hook): {ok:true, finished, note, state}
   *           | {ok:false, httpStatus, kind, error}
   *   probe:  probeStream's answer (or null): {ok:true, httpStatus, retryAfterMs} | {ok:false, error}
   *   note:   the `interruptionNote` option (e.g. 'the install continues on the server')
   * Returns {kind: 'running'|'finished'|'unreachable'|'gone'|'stopped'|'refused', message, httpStatus}.
   */
  function describeInterruption(status, probe, note) {
    const tail = (t) => (note ? '; ' + note : '') + (t || '');
    const probeStatus = probe && probe.ok ? probe.httpStatus : null;
    if (probeStatus === 204) {
      return { kind: 'stopped', httpStatus: 204, message: 'The server answered 204 No Content: the stream is over.' };
    }
    if (probeStatus === 401 || probeStatus === 403 || probeStatus === 404 || probeStatus === 410) {
      return { kind: 'refused', httpStatus: probeStatus, message: 'The server refuses the stream (HTTP ' + probeStatus + ').' };
    }
    if (status && status.ok) {
      if (status.finished) {
        return { kind: 'finished', message: 'The stream was interrupted, but the server has already finished' +
          (status.state ? ' (' + status.state + ')' : '') + '; fetching the remaining events.' };
      }
      return { kind: 'running', message: "The stream was interrupted, for example by a proxy's 502" +
        (status.note ? '; ' + status.note : tail('')) + '.' };
    }
    if (status && (status.kind === 'truncated' || status.kind === 'shape')) {
      return { kind: 'unreachable', message: 'The stream was interrupted and ' +
        String(status.error || '').replace(/^the server's/, "the status check's") + tail('; retrying.') };
    }
    if (status && status.httpStatus === 404) {
      return { kind: 'gone', httpStatus: 404, message: 'The server does not know this stream (404).' };
    }
    const httpStatus = status && status.httpStatus ? status.httpStatus : probeStatus && probeStatus !== 200 ? probeStatus : null;
    if (httpStatus) {
      const proxyish = httpStatus === 502 || httpStatus === 503 || httpStatus === 504;
      return { kind: 'unreachable', httpStatus, message: 'The stream was interrupted and the server answered ' +
        httpStatus + (proxyish ? ' (a proxy cannot reach the server right now)' : '') +
        tail(', and this page will catch up when it is reachable again.') };
    }
    if (probeStatus === 200) {
      return { kind: 'running', httpStatus: 200, message: 'The stream was interrupted; the server answers again' + tail('') + '.' };
    }
    const err = (status && status.error) || (probe && probe.error) || 'network error';
    return { kind: 'unreachable', message: 'The stream was interrupted and the server cannot be reached (' + err + ')' +
      tail(', and this page will catch up when it is reachable again.') };
  }

  // ---- the stream --------------------------------------------------------------------------------

  const DEFAULTS = {
    url: null,
    events: ['message'],        // the event types delivered to onEvent (EventSource needs their names)
    doneEvent: 'done',          // an event of this type is delivered, then ends the stream; null: never
    lastEventIdParam: 'lastEventId',
    withCredentials: false,
    parse: parseData,           // data text -> what onEvent gets
    pingIntervalMs: 15000,
    pingEvents: true,
    pingTimeoutMs: null,        // default: pingIntervalMs * 2 + 0.25 s
    statusTimeoutMs: 2000,      // the watchdog's status check (a reused dead connection would hang)
    maxStreamFailures: 3,
    backoff: { baseMs: 500, maxMs: 8000, maxRetryAfterMs: 300000 },
    pollIntervalMs: 1000,
    pollLimit: 500,
    streamRetryMs: 8000,        // while polling, try streaming again after this (doubles, up to 60 s)
    watchdogMs: 500,
    requestTimeoutMs: 4000,
    probe: true,                // after an error, GET the stream URL to see its status and Retry-After
    interruptionNote: '',       // appended to interruption messages
    checkStatus: null,
    poll: null,
    share: true,
    shareKey: null,
    replayLimit: 1000,
    joinHistory: true,          // a tab joining with no last id gets the history since the stream's start (else: live only)
    leaderTimeoutMs: null,      // a leader silent this long loses the lock (default: max(65 s, 2 x silence + status + backoff))
    dedupeLimit: 10000,
    onEvent: null,
    onState: null,
    onReset: null,
    onGap: null,
  };

  let tabCounter = 0;
  function newTabId(random) {
    const r = Math.floor((random || Math.random)() * 0x7fffffff).toString(36);
    return r + '-' + Date.now().toString(36) + '-' + (++tabCounter);
  }

  function absoluteUrl(url) {
    try {
      if (typeof location !== 'undefined' && location && location.href) return new URL(url, location.href).href;
    } catch (_) { /* not a URL */ }
    return String(url);
  }

  class ResilientStream {
    constructor(options) {
      const o = Object.assign({}, DEFAULTS, options || {});
      o.backoff = Object.assign({}, DEFAULTS.backoff, (options && options.backoff) || {});
      if (!o.url) throw new Error('ResilientStream needs a url');
      o.events = Array.from(new Set((o.events && o.events.length ? o.events : ['message']).map(String)));
      if (o.doneEvent && o.events.indexOf(o.doneEvent) < 0) o.events.push(o.doneEvent);
      this.o = o;
      const g = typeof globalThis !== 'undefined' ? globalThis : {};
      this.env = {
        EventSource: o.EventSource || (typeof g.EventSource === 'function' ? g.EventSource : null),
        fetch: o.fetch || (typeof g.fetch === 'function' ? g.fetch.bind(g) : null),
        now: o.now || (() => Date.now()),
        random: o.random || Math.random,
        locks: o.locks !== undefined ? o.locks : (g.navigator && g.navigator.locks && typeof g.navigator.locks.request === 'function' ? g.navigator.locks : null),
        BroadcastChannel: o.BroadcastChannel !== undefined ? o.BroadcastChannel : (typeof g.BroadcastChannel === 'function' ? g.BroadcastChannel : null),
      };
      this.detector = new BufferingDetector({ pingIntervalMs: o.pingIntervalMs, pingEvents: o.pingEvents,
        silenceLimitMs: o.pingTimeoutMs });
      this.dedupe = new EventDeduper(o.dedupeLimit);
      this.state = 'idle';
      this.transport = 'stream';
      this.lastPingAt = null;
      this.lastEventAt = null;
      this.failures = 0;          // consecutive stream failures while the server itself answered
      this.attempt = 0;           // consecutive failures of any kind, for the backoff
      this.counters = { streams: 0, streamErrors: 0, polls: 0, pings: 0, events: 0, duplicates: 0, resets: 0, gaps: 0,
        stalls: 0, leaderships: 0, replays: 0 };
      this.finished = false;
      this.final = null;
      this.tabId = newTabId(this.env.random);
      this.role = 'idle';          // solo | leader | follower (sharing)
      this.shareKey = null;
      this._started = false;
      this._es = null;
      this._gen = 0;
      this._timers = new Set();
      this._watchdog = null;
      this._polling = false;
      this._pollTimer = null;
      this._trialTimer = null;
      this._trialDelay = o.streamRetryMs;
      this._pollCursor = undefined;   // undefined: follow lastId; null: from the start (after a reset)
      this._restartPending = false;   // the next log page read replaces everything shown (a reset)
      this._nextCheckAt = 0;          // comment pings: the server had nothing new; look again from then
      this._checking = false;
      this._trial = false;            // the current stream is a trial while polling
      this._lastTrouble = null;       // the last interruption, to say a repeat briefly
      // Sharing.
      this._channel = null;
      this._lockAbort = null;
      this._releaseLock = null;
      this._ring = [];                // leader: the last replayLimit events delivered, for followers
      this._ringOrigin = null;        // the id before the ring's first event
      this._ringComplete = false;     // the ring holds everything since a fresh start (or a reset)
      this._leaderId = null;
      this._syncPending = false;
      this._held = [];                // follower: events held while a replay is asked for
      this._syncTimer = null;
      this._lockName = null;
      this._lockToken = null;
      this._leaderSeenAt = 0;
      this._leaderCheck = null;
      this._postedAt = 0;
      this._frozen = false;
      this._unlisten = null;
    }

    get lastId() { return this.dedupe.lastId; }

    /** Whether this tab would share its connection (sharing asked for and possible here). */
    get sharing() { return this.role === 'leader' || this.role === 'follower'; }

    /** Starts streaming; `fromId` resumes after that event (e.g. from a previous page). */
    start(fromId) {
      if (this._started) return this;
      this._started = true;
      if (fromId != null && fromId !== '') this.dedupe.lastId = String(fromId);
      // The ring of recent events holds everything since the start only when we start from nothing.
      this._ringOrigin = this.lastId;
      this._ringComplete = this.lastId == null;
      const env = this.env;
      if (this.o.share && env.locks && env.BroadcastChannel) {
        try {
          this._startShared();
          return this;
        } catch (e) {
          // e.g. a sandboxed frame without storage access: each tab its own connection.
          this._closeChannel();
        }
      }
      this.role = 'solo';
      this._startConnection();
      return this;
    }

    /** Stops everything; no callback fires afterwards. Another tab takes over a shared connection. */
    stop() {
      this.finished = true;
      this._closeStream();
      this._stopPolling();
      if (this._watchdog) clearInterval(this._watchdog);
      this._watchdog = null;
      for (const t of this._timers) clearTimeout(t);
      this._timers.clear();
      if (this._syncTimer) clearTimeout(this._syncTimer);
      this._syncTimer = null;
      this._closeChannel();
      if (this._leaderCheck) clearInterval(this._leaderCheck);
      this._leaderCheck = null;
      if (this._unlisten) { this._unlisten(); this._unlisten = null; }
      if (this._lockAbort) { try { this._lockAbort.abort(); } catch (_) { /* */ } }
      this._lockAbort = null;
      if (this._releaseLock) { const r = this._releaseLock; this._releaseLock = null; r(); }
    }

    _later(ms, fn) {
      const t = setTimeout(() => { this._timers.delete(t); if (!this.finished) fn(); }, ms);
      this._timers.add(t);
      return t;
    }

    _info(extra) {
      return Object.assign({ transport: this.transport, lastId: this.lastId, role: this.role }, extra || {});
    }

    _setState(state, message, info) {
      this.state = state;
      const full = this._info(info);
      if (this.role === 'leader') this._post({ t: 'state', state, message: message || '', info: full });
      this._emitState(state, message, full);
    }

    _emitState(state, message, info) {
      if (this.o.onState) {
        try { this.o.onState(state, message || '', info); } catch (e) { console.error(e); }
      }
    }

    /** Delivers one event once (to this tab, and to the others when leading); true when it was new. */
    _deliver(type, data, id) {
      if (this.finished) return false;
      const prev = this.lastId;
      if (!this.dedupe.accept(id)) { this.counters.duplicates++; return false; }
      const sid = id == null || id === '' ? null : String(id);
      this._ringPush({ type, data, id: sid, prev: sid == null ? undefined : prev });
      if (this.role === 'leader') this._post({ t: 'ev', type, data, id: sid, prev });
      this._emitEvent(type, data, sid);
      if (type === this.o.doneEvent) this._finish(isObject(data) ? data : { data }, this.transport === 'polling' ? 'poll' : 'event');
      return true;
    }

    _emitEvent(type, data, id) {
      this.counters.events++;
      this.lastEventAt = this.env.now();
      if (this.o.onEvent) {
        try { this.o.onEvent(type, data, id); } catch (e) { console.error(e); }
      }
    }

    _finish(final, how) {
      if (this.finished) return;
      const f = final || {};
      this.final = f;
      const message = this._doneMessage(f, how);
      const leading = this.role === 'leader';
      if (leading) this._post({ t: 'done', final: f, how, message });
      // The lock outlives the stream a moment, so that the other tabs read `done` before one of them
      // could take over (and open a connection for nothing).
      const release = leading ? this._releaseLock : null;
      this._releaseLock = null;
      this.stop();
      if (release) setTimeout(release, 250);
      this.state = 'done';
      this._emitState('done', message, this._info({ final: f, how, jobState: f.state }));
    }

    _doneMessage(f, how) {
      const what = f.state ? ' reports ' + f.state + (f.exit_code != null ? ' (exit code ' + f.exit_code + ')' : '') : ' ended the stream';
      const by = how === 'poll' ? ' (by polling)' : how === '204' ? ' (204 No Content)' : '';
      return 'The server' + what + by + '.';
    }

    /** Fails for good (the server refuses the stream): this tab and, when leading, the others. */
    _fail(message, extra) {
      if (this.finished) return;
      const info = this._info(extra);
      const leading = this.role === 'leader';
      if (leading) this._post({ t: 'state', state: 'failed', message, info });
      // As after `done`: the lock outlives the stream a moment, so that no tab takes over for nothing.
      const release = leading ? this._releaseLock : null;
      this._releaseLock = null;
      this.stop();
      if (release) setTimeout(release, 250);
      this.state = 'failed';
      this._emitState('failed', message, info);
    }

    _reset(info) {
      this.counters.resets++;
      this.dedupe = new EventDeduper(this.o.dedupeLimit);
      this._ring = [];
      this._ringOrigin = null;
      this._ringComplete = true;
      if (this.role === 'leader') this._post({ t: 'reset', info });
      if (this.o.onReset) {
        try { this.o.onReset(info); } catch (e) { console.error(e); }
      }
    }

    _gap(info) {
      this.counters.gaps++;
      if (this.role === 'leader') this._post({ t: 'gap', info });
      if (this.o.onGap) {
        try { this.o.onGap(info); } catch (e) { console.error(e); }
      }
    }

    // ---- sharing between tabs ----------------------------------------------------------------

    _startShared() {
      const key = this.o.shareKey || absoluteUrl(this.o.url) + ' [' + this.o.events.slice().sort().join(',') + ']';
      this.shareKey = key;
      this._lockName = 'sse-client:' + key;
      const ch = new this.env.BroadcastChannel(this._lockName);
      this._channel = ch;
      ch.onmessage = (ev) => this._onMessage(ev && ev.data);
      this.role = 'follower';
      this._leaderSeenAt = this.env.now();
      this._requestLock(false);
      // A leader that says nothing for too long (its tab frozen or hung) loses the lock to a follower.
      this._leaderCheck = setInterval(() => this._checkLeader(), Math.min(1000, Math.max(50, this._leaderTimeoutMs() / 4)));
      this._listenLifecycle();
      this._setState('connecting', 'Joining the stream shared by this site\'s tabs.');
      // Ask whoever leads for what we have not seen; no answer: we lead soon, or nobody has anything yet.
      this._askReplay('hello');
    }

    /** Queues for the lock (or takes it from a silent leader: `steal`); granted: this tab leads. */
    _requestLock(steal) {
      if (this._lockAbort) { try { this._lockAbort.abort(); } catch (_) { /* */ } }
      const ctl = typeof AbortController !== 'undefined' && !steal ? new AbortController() : null;
      const token = {};
      this._lockAbort = ctl;
      this._lockToken = token;
      const opts = steal ? { steal: true } : ctl ? { signal: ctl.signal } : {};
      const p = this.env.locks.request(this._lockName, opts, () => {
        if (this.finished || this._lockToken !== token) return undefined;
        return new Promise((resolve) => {
          this._releaseLock = resolve;
          this._becomeLeader();
        });
      });
      // Rejected: aborted by stop() or a new request, or stolen by a follower while we led.
      if (p && typeof p.catch === 'function') p.catch(() => { if (this._lockToken === token && this.role === 'leader') this._demote(); });
    }

    /** How long a follower waits for any word from the leader before taking the lock from it. */
    _leaderTimeoutMs() {
      if (this.o.leaderTimeoutMs > 0) return this.o.leaderTimeoutMs;
      return Math.max(65000, 2 * this.detector.silenceLimitMs + this.o.statusTimeoutMs + this.o.backoff.maxMs);
    }

    _checkLeader() {
      if (this.finished || this.role !== 'follower' || this._frozen) return;
      const silent = this.env.now() - this._leaderSeenAt;
      if (silent <= this._leaderTimeoutMs()) return;
      this._leaderSeenAt = this.env.now();
      this._emitState('connecting', 'The tab that holds the shared connection has said nothing for ' + seconds(silent) +
        ' (frozen or hung): this tab takes the connection over.', this._info({ stolen: true }));
      this._requestLock(true);
    }

    /** Our lock was taken (we were silent too long, e.g. frozen): back to following, from our last id. */
    _demote() {
      if (this.finished) return;
      this._closeStream();
      this._stopPolling();
      if (this._watchdog) clearInterval(this._watchdog);
      this._watchdog = null;
      for (const t of this._timers) clearTimeout(t);
      this._timers.clear();
      this._releaseLock = null;
      this.role = 'follower';
      this._leaderSeenAt = this.env.now();
      this._requestLock(false);
      this._askReplay('sync');
    }

    /**
     * A tab the browser freezes (a background tab saving energy) can neither stream nor answer: as it
     * freezes, a leader hands the connection over and a follower leaves the queue; both come back on
     * `resume`.
     */
    _listenLifecycle() {
      const doc = typeof document !== 'undefined' ? document : null;
      if (!doc || typeof doc.addEventListener !== 'function') return;
      const onFreeze = () => {
        if (this.finished || !this.sharing) return;
        this._frozen = true;
        if (this._lockAbort) { try { this._lockAbort.abort(); } catch (_) { /* */ } }
        this._lockAbort = null;
        if (this.role === 'leader') {
          this._closeStream();
          this._stopPolling();
          if (this._watchdog) clearInterval(this._watchdog);
          this._watchdog = null;
          for (const t of this._timers) clearTimeout(t);
          this._timers.clear();
          this.role = 'follower';
          if (this._releaseLock) { const r = this._releaseLock; this._releaseLock = null; r(); }
        }
      };
      const onResume = () => {
        if (this.finished || !this._frozen || this.role !== 'follower') return;
        this._frozen = false;
        this._leaderSeenAt = this.env.now();
        this._requestLock(false);
        this._askReplay('sync');
      };
      doc.addEventListener('freeze', onFreeze);
      doc.addEventListener('resume', onResume);
      this._unlisten = () => { doc.removeEventListener('freeze', onFreeze); doc.removeEventListener('resume', onResume); };
    }

    _closeChannel() {
      if (this._channel) { try { this._channel.close(); } catch (_) { /* */ } }
      this._channel = null;
    }

    _post(msg) {
      if (!this._channel) return;
      msg.from = this.tabId;
      this._postedAt = this.env.now();
      try { this._channel.postMessage(msg); } catch (e) { console.error(e); }
    }

    _becomeLeader() {
      if (this.finished) { this.stop(); return; }
      this.role = 'leader';
      this.counters.leaderships++;
      // What was held for a replay comes from the server now: we resume from our own last id.
      this._syncPending = false;
      this._held = [];
      if (this._syncTimer) { clearTimeout(this._syncTimer); this._syncTimer = null; }
      this._post({ t: 'leader', lastId: this.lastId });
      this._startConnection();
    }

    /** Leaves sharing for good: this tab reads the stream on its own connection from its last id. */
    _goSolo(why) {
      if (this.finished || this.role === 'solo') return;
      if (this._syncTimer) { clearTimeout(this._syncTimer); this._syncTimer = null; }
      this._syncPending = false;
      this._held = [];
      this._closeChannel();
      if (this._leaderCheck) clearInterval(this._leaderCheck);
      this._leaderCheck = null;
      if (this._lockAbort) { try { this._lockAbort.abort(); } catch (_) { /* */ } }
      this._lockAbort = null;
      if (this._releaseLock) { const r = this._releaseLock; this._releaseLock = null; r(); }
      this.role = 'solo';
      this._emitState('connecting', 'This tab reads the stream on its own connection (' + why + ').', this._info({ reason: why }));
      this._startConnection();
    }

    _askReplay(kind) {
      this._syncPending = true;
      this._post({ t: kind, after: this.lastId, history: this.o.joinHistory !== false });
      if (this._syncTimer) clearTimeout(this._syncTimer);
      // No leader answers (none yet, or it is starting): what we hold is delivered as it is.
      this._syncTimer = setTimeout(() => {
        this._syncTimer = null;
        if (this.finished || this.role !== 'follower' || !this._syncPending) return;
        this._syncPending = false;
        const held = this._held;
        this._held = [];
        for (const m of held) this._followEvent(m);
      }, kind === 'hello' ? 500 : 1500);
    }

    /** Every tab keeps the last replayLimit events it delivered: whichever leads next can replay them. */
    _ringPush(ev) {
      this._ring.push(ev);
      const limit = Math.max(1, this.o.replayLimit);
      while (this._ring.length > limit) {
        const old = this._ring.shift();
        if (old.id != null) { this._ringOrigin = old.id; this._ringComplete = false; }
      }
    }

    /** The leader's answer to a follower that has everything up to `after`: events, or null. */
    _replayAfter(after) {
      const ring = this._ring;
      if (after == null) return this._ringComplete ? ring.slice() : null;
      if (after === this._ringOrigin) return ring.slice();
      for (let i = ring.length - 1; i >= 0; --i) if (ring[i].id === after) return ring.slice(i + 1);
      return null;
    }

    _onMessage(m) {
      if (!m || typeof m !== 'object' || this.finished || m.from === this.tabId) return;
      if (this.role === 'leader') {
        // What the previous leader sent before it went away may arrive after we took over (a lock is
        // granted sooner than a message is delivered): take what continues our chain, and its end.
        if (m.t === 'ev' && m.id != null && !this.dedupe.has(m.id) && (m.prev == null ? null : String(m.prev)) === this.lastId) {
          this._deliver(m.type, m.data, String(m.id));
          return;
        }
        if (m.t === 'done') { this._finish(m.final || {}, m.how); return; }
        if (m.t === 'state' && m.state === 'failed') { this._fail(m.message, { httpStatus: m.info && m.info.httpStatus }); return; }
        if ((m.t === 'hello' || m.t === 'sync') && m.from) {
          // A tab with nothing that wants only what is live from now on (history: false) starts after
          // our last event; any other gets what it missed, if our buffer reaches back that far.
          const live = m.after == null && m.history === false;
          const events = live ? [] : this._replayAfter(m.after == null ? null : String(m.after));
          this.counters.replays++;
          this._post({ t: 'replay', to: m.from, ok: events != null, events: events || [], anchor: live ? this.lastId : undefined,
            state: this.state, transport: this.transport, lastId: this.lastId });
        }
        return;
      }
      if (this.role !== 'follower') return;
      if (m.t !== 'hello' && m.t !== 'sync') this._leaderSeenAt = this.env.now();
      switch (m.t) {
        case 'leader':
          this._leaderId = m.from;
          break;
        case 'replay': {
          if (m.to !== this.tabId) return;
          this._leaderId = m.from;
          if (this._syncTimer) { clearTimeout(this._syncTimer); this._syncTimer = null; }
          if (!m.ok || !Array.isArray(m.events)) { this._goSolo('the tab that holds the shared connection no longer has the events this tab needs'); return; }
          this._syncPending = false;
          // Joining live: our chain starts after the leader's last event (nothing to deliver before).
          if (m.anchor != null && this.lastId == null) this.dedupe.lastId = String(m.anchor);
          for (const e of m.events) {
            if (this.finished) return;
            this._followerDeliver(e);
          }
          if (m.state && m.state !== 'idle' && this.state === 'connecting') {
            this.transport = m.transport || this.transport;
            this._emitState(m.state === 'connecting' ? 'connecting' : m.state,
              m.state === 'open' ? 'Streaming through the connection shared with another tab.' : 'Sharing another tab\'s connection.',
              this._info({ shared: true }));
            this.state = m.state;
          }
          const held = this._held;
          this._held = [];
          for (const h of held) { if (this.finished || this.role !== 'follower') return; this._followEvent(h); }
          break;
        }
        case 'ev':
          this._followEvent(m);
          break;
        case 'state':
          this.state = m.state;
          if (m.info && m.info.transport) this.transport = m.info.transport;
          if (m.state === 'failed') this.stop();   // the server refused the stream: it refuses every tab
          this._emitState(m.state, m.message, Object.assign({}, m.info, { role: 'follower', lastId: this.lastId, shared: true }));
          break;
        case 'ping':
          this.lastPingAt = this.env.now();
          this.counters.pings++;
          break;
        case 'reset':
          this._reset(m.info);
          break;
        case 'gap':
          this._gap(m.info);
          break;
        case 'done':
          if (this.finished) return;
          this.final = m.final || {};
          this.stop();
          this.state = 'done';
          this._emitState('done', m.message, this._info({ final: this.final, how: m.how, jobState: this.final.state, role: 'follower' }));
          break;
        default:
          break;
      }
    }

    /** Keeps an event until the replay we asked for arrives (bounded: beyond, this tab reads on its own). */
    _hold(m) {
      this._held.push(m);
      if (this._held.length > Math.max(1, this.o.replayLimit)) this._goSolo('too many events held while waiting for a replay');
    }

    /** A live event from the leader: delivered when it follows what we have, else a replay is asked. */
    _followEvent(m) {
      if (this._syncPending) { this._hold(m); return; }
      const id = m.id == null ? null : String(m.id);
      if (id != null && this.dedupe.has(id)) { this.counters.duplicates++; this.dedupe.duplicates++; return; }
      const prev = m.prev == null ? null : String(m.prev);
      if (id != null && prev !== this.lastId) {
        // We missed something between our last id and this one: ask the leader (it keeps a buffer).
        this._hold(m);
        this._askReplay('sync');
        return;
      }
      this._followerDeliver(m);
    }

    _followerDeliver(e) {
      if (!this.dedupe.accept(e.id)) { this.counters.duplicates++; return; }
      if (this.state === 'connecting' || this.state === 'idle') {
        this.state = 'open';
        this._emitState('open', 'Streaming through the connection shared with another tab.', this._info({ shared: true }));
      }
      const sid = e.id == null ? null : String(e.id);
      this._ringPush({ type: e.type, data: e.data, id: sid, prev: e.prev });
      this._emitEvent(e.type, e.data, sid);
      // The server's done event ends this tab as it ends the leader (should the leader vanish before
      // it says so); the leader's `done` message covers the ends without an event (204, polling).
      if (e.type === this.o.doneEvent) this._finish(isObject(e.data) ? e.data : { data: e.data }, 'event');
    }

    // ---- streaming ---------------------------------------------------------------------------

    _startConnection() {
      if (this.finished) return;
      this._openStream(false);
      if (!this._watchdog) this._watchdog = setInterval(() => this._watch(), this.o.watchdogMs);
    }

    _closeStream() {
      this._gen++;
      if (this._es) { try { this._es.close(); } catch (_) { /* ignore */ } }
      this._es = null;
    }

    _streamUrl() {
      return this.o.lastEventIdParam ? withQuery(this.o.url, { [this.o.lastEventIdParam]: this.lastId }) : this.o.url;
    }

    _openStream(trial) {
      if (this.finished) return;
      this._closeStream();
      const ES = this.env.EventSource;
      if (!ES) {
        if (this.o.poll) this._startPolling('This browser has no EventSource; polling instead.');
        else this._fail('This browser has no EventSource.');
        return;
      }
      const gen = this._gen;
      const url = this._streamUrl();
      if (!trial) {
        this._setState('connecting', this.lastId ? 'Connecting to the stream, resuming after event #' + this.lastId + '.' :
          'Connecting to the stream.');
      }
      this.counters.streams++;
      this._nextCheckAt = 0;
      const es = this.o.withCredentials ? new ES(url, { withCredentials: true }) : new ES(url);
      this._es = es;
      this._trial = !!trial;
      this.detector.reset(this.env.now());
      let delivered = false;
      const alive = () => gen === this._gen && !this.finished;
      const healthy = (what) => {
        // The stream works: it delivered something. Back to streaming if this was a trial.
        this.failures = 0;
        this.attempt = 0;
        this._lastTrouble = null;
        if (this._trial) {
          this._trial = false;
          this._trialDelay = this.o.streamRetryMs;
          this._stopPolling();
          this.transport = 'stream';
          this._setState('open', 'Streaming works again (' + what + ' received); stopped polling.');
        }
      };
      es.onopen = () => {
        if (!alive()) return;
        this.detector.activity(this.env.now());
        if (!this._trial) {
          this.transport = 'stream';
          this._setState('open', this.lastId ? 'Streaming; resumed after event #' + this.lastId + '.' : 'Streaming.');
        }
      };
      es.onerror = () => {
        if (!alive()) return;
        this._onStreamError(delivered);
      };
      const handler = (type) => (ev) => {
        if (!alive()) return;
        const now = this.env.now();
        if (type !== 'ping') this.detector.activity(now);
        if (type === 'ping') {
          this.counters.pings++;
          this.lastPingAt = now;
          if (this.role === 'leader') this._post({ t: 'ping' });
          const verdict = this.detector.notePing(now);
          healthy('a ping');
          if (verdict === 'burst') this._onBuffered('Pings arrive in a burst (' + this.detector.burstCount +
            ' within ' + seconds(this.detector.pings[this.detector.pings.length - 1].at - this.detector.pings[0].at) +
            ' after ' + seconds(this.detector.pings[0].gapBefore) + ' of silence): the stream looks buffered by a proxy.');
          return;
        }
        const data = this.o.parse ? this.o.parse(ev.data) : ev.data;
        if (type === 'reset') { this._onResetEvent(data); return; }
        if (type === 'gap') { healthy('a gap marker'); this._gap(isObject(data) ? data : { data }); return; }
        // (EventSource gives an event without an `id:` line the last id seen: it counts as a repeat, so
        // every event that matters needs an id - this library's servers give one to every event.)
        const id = ev.lastEventId != null && ev.lastEventId !== '' ? ev.lastEventId : null;
        if (this._deliver(type, data, id)) { delivered = true; healthy('an event'); }
      };
      const types = new Set(this.o.events.concat(['ping', 'reset', 'gap']));
      for (const t of types) es.addEventListener(t, handler(t));
    }

    async _onStreamError(delivered) {
      this.counters.streamErrors++;
      const wasTrial = this._trial;
      this._closeStream();
      if (wasTrial) {
        // Still polling: the stream does not work yet. Try again later, less often.
        this._trial = false;
        this._trialDelay = Math.min(60000, this._trialDelay * 2);
        this._scheduleTrial();
        return;
      }
      this._setState('interrupted', 'The stream was interrupted; asking the server what happened.', { probing: true });
      const [status, probe] = await Promise.all([
        this.o.checkStatus ? this._checkStatus(this.o.requestTimeoutMs) : null,
        this.o.probe ? probeStream(this.env.fetch, this._streamUrl(), { timeoutMs: this.o.requestTimeoutMs,
          withCredentials: this.o.withCredentials, now: this.env.now() }) : null,
      ]);
      if (this.finished) return;
      const d = describeInterruption(status, probe, this.o.interruptionNote);
      if (d.kind === 'stopped') { this._finish({ httpStatus: 204 }, '204'); return; }
      if (d.kind === 'gone' || d.kind === 'refused') { this._fail(d.message, { httpStatus: d.httpStatus }); return; }
      // The same trouble again: say it briefly.
      const same = this._lastTrouble && this._lastTrouble.kind === d.kind && this._lastTrouble.httpStatus === d.httpStatus;
      this._lastTrouble = { kind: d.kind, httpStatus: d.httpStatus };
      const what = same ? 'Still interrupted (' + (d.httpStatus && d.httpStatus !== 200 ? 'HTTP ' + d.httpStatus :
        d.kind === 'running' ? 'the server answers, the stream does not' : (status && status.error) || (probe && probe.error) || 'unreachable') + ').' : d.message;
      if (d.kind === 'finished' && this.o.poll) {
        this._startPolling(d.message, 'interrupted', { server: status });
        return;
      }
      // Only failures of the stream itself (the server answers) count towards switching to polling:
      // when nothing answers, polling would fail just the same.
      if (d.kind === 'running' && !delivered) this.failures++;
      else if (d.kind === 'running') this.failures = 1;
      const info = { server: status && status.ok ? status : null, httpStatus: d.httpStatus };
      if (this.o.poll && this.failures >= this.o.maxStreamFailures) {
        this._startPolling(d.message + ' The stream failed ' + this.failures + ' times in a row while the server answers: ' +
          'switched to polling every ' + seconds(this.o.pollIntervalMs) + ' (streaming will be tried again).', 'polling', info);
        return;
      }
      let delay = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random);
      const retryAfter = probe && probe.ok && probe.retryAfterMs != null ? Math.min(probe.retryAfterMs, this.o.backoff.maxRetryAfterMs) : null;
      if (retryAfter != null && retryAfter > delay) delay = retryAfter;
      this._setState('retrying', what + ' Reconnecting in ' + seconds(delay) +
        (retryAfter != null ? ' (the server asked for ' + seconds(retryAfter) + ')' : '') +
        (this.lastId ? ', resuming after event #' + this.lastId : '') + ' (attempt ' + this.attempt + ').',
      Object.assign({ delayMs: delay, retryAfterMs: retryAfter }, info));
      this._later(delay, () => this._openStream(false));
    }

    /** The checkStatus hook, bounded by `timeoutMs` whatever the hook does; never throws. */
    _checkStatus(timeoutMs) {
      const hook = this.o.checkStatus;
      return withTimeout(timeoutMs, (signal) => Promise.resolve(hook({ lastId: this.lastId, timeoutMs, signal }))
        .then((r) => r || { ok: false, kind: 'shape', error: 'no answer from checkStatus' },
          (e) => ({ ok: false, kind: 'network', error: (e && e.message) || 'network error' })),
      () => ({ ok: false, kind: 'timeout', error: 'no answer within ' + seconds(timeoutMs) }));
    }

    _onResetEvent(data) {
      // The server cannot continue from our id (its history was trimmed, or it restarted): what follows
      // on this stream is its replay from the oldest event it has. The page forgets what it shows.
      const info = isObject(data) ? data : { data };
      this._setState(this.state === 'open' ? 'open' : this.state, 'The server could not resume after event #' + this.lastId + ' (' +
        (info.reason || 'unknown reason') + (info.lost != null ? '; ' + info.lost + ' events lost' : '') +
        '): showing its history from the start again.', { reset: info });
      this._reset(info);
    }

    _onBuffered(message) {
      if (this.finished) return;
      const wasTrial = this._trial;
      if (!this.o.poll) {
        this.counters.stalls++;
        this._closeStream();
        const delay = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random);
        this._setState('buffering', message + ' Reconnecting in ' + seconds(delay) + '.', { delayMs: delay });
        this._later(delay, () => this._openStream(false));
        return;
      }
      this._closeStream();
      this._trial = false;
      if (wasTrial) {
        this._trialDelay = Math.min(60000, this._trialDelay * 2);
        this._setState('buffering', message + ' Still polling.');
        this._scheduleTrial();
        return;
      }
      this._startPolling(message + ' Switched to polling every ' + seconds(this.o.pollIntervalMs) +
        ' (streaming will be tried again).', 'buffering');
    }

    /**
     * Runs every watchdogMs while streaming: notices a dead or buffered stream. Silent for twice the
     * ping interval: says so at once, asks checkStatus (at most statusTimeoutMs), then acts whatever the
     * answer - buffered (the server is ahead): polls; else (no answer, an error, or nothing new):
     * reconnects. The silent time told is measured from the last event or ping seen.
     */
    async _watch() {
      if (this.role === 'leader' && this.env.now() - this._postedAt >= Math.min(5000, this._leaderTimeoutMs() / 3)) this._post({ t: 'beat' });
      if (this.finished || !this._es || this._checking) return;
      const now = this.env.now();
      if (now < this._nextCheckAt || !this.detector.overdue(now)) return;
      this._checking = true;
      const gen = this._gen;
      const trial = this._trial;
      const since = this.detector.lastActivity;
      const timeoutMs = this.o.statusTimeoutMs;
      const expect = this.o.pingEvents ? ' (a ping is expected every ' + seconds(this.detector.pingIntervalMs) + ')' : '';
      const hook = !!this.o.checkStatus;
      const told = this.o.pingEvents && !trial && hook;
      if (told) {
        this._setState('interrupted', 'Nothing received for ' + seconds(this.detector.silentFor(now)) + expect +
          '; asking the server what happened (waiting at most ' + seconds(timeoutMs) + ').',
        { probing: true, silentMs: this.detector.silentFor(now) });
      }
      try {
        const probe = hook ? await this._checkStatus(timeoutMs) : null;
        if (this.finished || gen !== this._gen) return;
        const at = this.env.now();
        const silent = this.detector.silentFor(at);
        if (this.detector.lastActivity !== since) {
          // Something arrived meanwhile: the stream lives (it was only slow).
          if (told) this._setState('open', 'The stream is alive again (something arrived after ' + seconds(this.detector.lastActivity - since) + ' of silence).');
          return;
        }
        const st = probe && probe.ok ? probe : null;
        const serverAhead = !!st && ((st.lastId != null && st.lastId !== '' && compareIds(st.lastId, this.lastId) > 0) || !!st.finished);
        if (serverAhead) {
          this._onBuffered('Nothing reached this page for ' + seconds(silent) + expect + ' while the server has events up to #' +
            st.lastId + (st.finished ? ' (it has finished' + (st.state ? ': ' + st.state : '') + ')' : '') +
            ': the stream looks buffered by a proxy, or its connection is dead.');
        } else if (!this.o.pingEvents) {
          // Comment pings are invisible here: silence is normal when the server has nothing new.
          this._nextCheckAt = at + this.detector.silenceLimitMs / 2;
        } else if (trial) {
          // A trial stream while polling that shows no sign of life: not yet; polling goes on.
          this._closeStream();
          this._trial = false;
          this._trialDelay = Math.min(60000, this._trialDelay * 2);
          this._scheduleTrial();
        } else {
          const why = !hook ? 'no status check is configured'
            : probe.ok ? 'the server answers and has nothing newer'
              : probe.kind === 'timeout' ? 'the status check did not answer within ' + seconds(timeoutMs) + ' either'
                : 'the status check failed too (' + (probe.httpStatus ? 'HTTP ' + probe.httpStatus : probe.error) + ')';
          this.counters.streamErrors++;
          this.counters.stalls++;
          this._closeStream();
          const delay = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random);
          this._setState('interrupted', 'No ping or event for ' + seconds(silent) + expect + '; ' + why +
            ': the stream is dead or held by a proxy; reconnecting' + (this.lastId ? ', resuming after event #' + this.lastId : '') + '.',
          { silentMs: silent, server: st, httpStatus: probe && probe.httpStatus });
          this._later(delay, () => this._openStream(false));
        }
      } finally {
        this._checking = false;
      }
    }

    // ---- polling -----------------------------------------------------------------------------

    _startPolling(message, state, info) {
      if (this.finished) return;
      if (!this.o.poll) return;
      this.transport = 'polling';
      if (message) this._setState(state || 'polling', message, info);
      if (this._polling) return;
      this._polling = true;
      this._poll();
      this._scheduleTrial();
    }

    _stopPolling() {
      this._polling = false;
      if (this._pollTimer) { clearTimeout(this._pollTimer); this._timers.delete(this._pollTimer); }
      this._pollTimer = null;
      if (this._trialTimer) { clearTimeout(this._trialTimer); this._timers.delete(this._trialTimer); }
      this._trialTimer = null;
    }

    _scheduleTrial() {
      if (!this._polling || this.finished) return;
      if (this._trialTimer) { clearTimeout(this._trialTimer); this._timers.delete(this._trialTimer); }
      this._trialTimer = this._later(this._trialDelay, () => {
        this._trialTimer = null;
        if (this._polling && !this._es) this._openStream(true);
      });
    }

    /** Restarts what is shown (the page clears it): what follows is the history from the start. */
    _restartLog(why) {
      this._restartPending = false;
      this._reset({ reason: why });
    }

    _callPoll(after) {
      const hook = this.o.poll;
      const timeoutMs = this.o.requestTimeoutMs;
      return withTimeout(timeoutMs, (signal) => Promise.resolve(hook({ after, limit: this.o.pollLimit, timeoutMs, signal }))
        .then((r) => r || { ok: false, kind: 'shape', error: 'no answer from poll' },
          (e) => ({ ok: false, kind: 'network', error: (e && e.message) || 'network error' })),
      () => ({ ok: false, kind: 'timeout', error: 'no answer within ' + seconds(timeoutMs) }));
    }

    async _poll() {
      if (!this._polling || this.finished) return;
      this._pollTimer = null;
      let again = this.o.pollIntervalMs;
      const cursor = this._pollCursor === undefined ? this.lastId : this._pollCursor;
      const r = await this._callPoll(cursor);
      if (!this._polling || this.finished) return;
      this.counters.polls++;
      if (!r.ok && r.httpStatus === 400 && cursor) {
        // The server does not know our last id (its history was replaced?): read its whole log again and
        // show that instead of what we have.
        this._pollCursor = null;
        this._restartPending = true;
        this._setState('polling', 'The server does not know event #' + cursor + '; reading the whole log again.');
        again = 0;
      } else if (!r.ok) {
        const retryIn = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random) + this.o.pollIntervalMs;
        this._setState('polling', 'Polling failed (' + (r.kind === 'http' ? 'HTTP ' + r.httpStatus : r.error) +
          ')' + (this.o.interruptionNote ? '; ' + this.o.interruptionNote : '') + '; retrying in ' + seconds(retryIn) + '.');
        again = retryIn;
      } else {
        this.attempt = 0;
        const events = Array.isArray(r.events) ? r.events : [];
        if (r.reset === true && cursor) {
          // "These events do not continue from your `after`: here is the log from the start."
          this._setState('polling', 'The server\'s log does not continue from event #' + cursor +
            ' (it restarted or trimmed its history): showing its whole log from the start.');
          this._pollCursor = null;
          this._restartLog('reset');
        } else if (this._restartPending) {
          this._restartLog('reset');
        }
        let lastSeen = cursor;
        for (const ev of events) {
          if (this.finished) return;
          if (!ev) continue;
          if (ev.id != null) lastSeen = String(ev.id);
          const type = ev.type || 'message';
          if (type === 'ping' || type === 'reset') continue;
          if (type === 'gap') { this._gap(isObject(ev.data) ? ev.data : { data: ev.data }); continue; }
          this._deliver(type, ev.data, ev.id == null ? null : ev.id);
        }
        if (this.finished) return;
        if (this._pollCursor !== undefined) {
          // Re-reading from the start after a reset: walk the log with our own cursor until caught up.
          this._pollCursor = lastSeen;
          if (!events.length || compareIds(lastSeen, this.lastId) >= 0) this._pollCursor = undefined;
        }
        if (r.done) {
          if (events.length >= this.o.pollLimit) again = 0;
          else {
            // The log is complete but its done event was not in it: the server's word for the end.
            let final = r.final || null;
            if (!final && this.o.checkStatus) {
              const st = await this._checkStatus(this.o.requestTimeoutMs);
              if (this.finished) return;
              if (st && st.ok) final = st.final || (st.state ? { state: st.state } : null);
            }
            this._finish(final || (r.state ? { state: r.state } : {}), 'poll');
            return;
          }
        } else if (events.length >= this.o.pollLimit) {
          again = 0;
        }
      }
      this._pollTimer = this._later(again, () => this._poll());
    }
  }

  return { VERSION, ResilientStream, BufferingDetector, EventDeduper, fullJitterDelay, equalJitterDelay, parseRetryAfter,
    compareIds, withQuery, parseData, seconds, fetchJson, reloadUntil, probeStream, describeInterruption, SHAPES, DEFAULTS };
});
