/**
 * sse-client.js - a resilient Server-Sent Events reader for the browser, built on EventSource.
 * No dependencies, no build step. Load it with <script src="sse-client.js"> (it defines the global
 * `SSEClient`) or require() it from Node (module.exports), where the pure helpers are unit-tested.
 *
 * Why: a native EventSource retries on its own after a dropped connection, but gives up for good
 * when a reconnect is answered with anything but a 200 text/event-stream - and a proxy whose upstream
 * is down answers 502 (nginx) or 503 (HAProxy). It also cannot tell a quiet stream from one that a
 * buffering proxy holds back. ResilientStream:
 *   - closes the EventSource on any error (no blind automatic retry) and asks the status endpoint
 *     what really happened, then says it ("the stream was interrupted, for example by a proxy's 502;
 *     the install continues on the server");
 *   - reconnects with a new EventSource on `eventsUrl?lastEventId=<last id>` after a full-jitter
 *     backoff (random in [0, min(maxMs, baseMs * 2^attempt)]);
 *   - never delivers an event twice (deduplicated by id), so resuming can overlap safely;
 *   - watches `ping` events: when nothing (no event, no ping) arrived for twice the advertised ping
 *     interval, it says so at once and asks the status endpoint, waiting at most `statusTimeoutMs`
 *     (a status check on a reused dead connection would otherwise hang); whatever the answer (or none),
 *     it then reconnects - or, when the server has events we have not seen, reports the stream as
 *     buffered and polls. The silent time it reports is measured from the last event or ping seen.
 *     Pings arriving in a burst also mean buffering;
 *   - after `maxStreamFailures` consecutive failures of the stream while the server itself answers
 *     (or on buffering, or on a `reset` event), switches to polling `logsUrl?after=<last id>`, says so,
 *     and tries streaming again now and then, going back to it as soon as it delivers;
 *   - on `event: reset` (the server cannot continue from our last id: its history was trimmed, or it
 *     restarted after a crash), on a polling answer with `"reset": true` (the events are the log from
 *     the job's start, not a continuation) or on a 400 for our id, it reads the job's whole log again
 *     and tells the page to REPLACE what it shows (`onReset`): no duplicates, no silent gap;
 *   - finishes only on the server's own `done` event (or the server's state when polling): the final
 *     state always comes from the server.
 *
 * Every JSON request goes through fetchJson(), which bounds it in time, reads the body as text and
 * checks the shape its caller needs (SHAPES): a body cut off by a proxy or a crash is reported as
 * "the server's answer was cut off", never as a TypeError on null. reloadUntil() repeats a request
 * with a capped, jittered backoff until its answer agrees with what the caller knows (a bounded number
 * of attempts).
 *
 * Usage:
 *   const rs = new SSEClient.ResilientStream({
 *     eventsUrl: '/api/jobs/J/events', logsUrl: '/api/jobs/J/logs', statusUrl: '/api/jobs/J',
 *     onEvent(type, data, id) {},          // every non-ping event once, in order; data is parsed JSON
 *     onState(state, message, info) {},    // connecting|open|interrupted|retrying|polling|buffering|done|failed
 *     onReset(info) {},                    // forget every event shown: the whole log follows from the start
 *     pingIntervalMs: 15000,               // the server's advertised interval (/api/diagnostics)
 *     statusTimeoutMs: 2000,               // how long a watchdog's status check may take
 *     pingEvents: true,                    // false when the server pings with comments (invisible here)
 *     maxStreamFailures: 3, backoff: { baseMs: 500, maxMs: 8000 }, pollIntervalMs: 1000,
 *   });
 *   rs.start();   ...   rs.stop();
 *   rs.state, rs.transport ('stream'|'polling'), rs.lastId, rs.lastPingAt, rs.counters
 *
 * Server contract: events carry increasing ids (pings carry none); the stream resumes from the
 * `lastEventId` query parameter; the logs endpoint answers {events:[{id,type,data}], last_id, done,
 * state, reset?}; the status endpoint answers {state, last_id, lines, exit_code}.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.SSEClient = api;
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

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

  // ---- JSON requests ---------------------------------------------------------------------------

  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const listOf = (field, what, itemOk) => (b) => {
    if (!isObject(b)) return 'not a JSON object';
    if (!Array.isArray(b[field])) return 'no "' + field + '" list';
    return b[field].every(itemOk) ? null : what;
  };

  /**
   * The shapes the page relies on, one per endpoint: each returns null when a body fits, else what is
   * wrong with it (for the message).
   */
  const SHAPES = {
    object: (b) => (isObject(b) ? null : 'not a JSON object'),
    components: listOf('components', 'a component without a name',
      (c) => isObject(c) && typeof c.name === 'string'),
    jobs: listOf('jobs', 'a job without an id or state',
      (j) => isObject(j) && typeof j.id === 'string' && typeof j.state === 'string'),
    status: (b) => (!isObject(b) ? 'not a JSON object' : typeof b.state !== 'string' ? 'no "state"' : null),
    logs: listOf('events', 'an event that is not an object', isObject),
  };

  /**
   * One JSON request: bounded by `timeoutMs` (an AbortController, body included), body read as text,
   * parsed, and checked with `shape` (a SHAPES key or a function). Never throws. Answers
   *   {ok: true, httpStatus, body}
   *   {ok: false, kind: 'http', httpStatus, body (parsed or null), error}      (not 2xx)
   *   {ok: false, kind: 'truncated' | 'shape', httpStatus, error}              (2xx, unusable body)
   *   {ok: false, kind: 'timeout' | 'network', error}
   * `error` is a short text for the user.
   */
  async function fetchJson(fetchFn, url, opts) {
    opts = opts || {};
    const ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let timedOut = false;
    const timer = ctl && opts.timeoutMs > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, opts.timeoutMs) : null;
    const init = Object.assign({ cache: 'no-store' }, opts.init || {});
    init.headers = Object.assign({ Accept: 'application/json' }, (opts.init && opts.init.headers) || {});
    if (ctl) init.signal = ctl.signal;
    const failed = () => (timedOut
      ? { ok: false, kind: 'timeout', error: 'no answer within ' + seconds(opts.timeoutMs) }
      : { ok: false, kind: 'network', error: 'network error' });
    try {
      let res;
      try { res = await fetchFn(url, init); } catch (_) { return failed(); }
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
        return { ok: false, kind: 'http', httpStatus: res.status, body: b,
          error: isObject(b) && typeof b.error === 'string' ? b.error + ' (HTTP ' + res.status + ')' : 'HTTP ' + res.status };
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
   * Whether the components list agrees with a finished job: its component no longer shows that job
   * running, and a successful job's component is installed. job = {id, component, state}.
   */
  function componentsAgree(body, job) {
    const list = body && Array.isArray(body.components) ? body.components : [];
    if (list.some((c) => c && c.running_job === job.id)) return false;
    if (!job.component) return true;
    const row = list.find((c) => c && c.name === job.component);
    if (!row) return true;   // not in the catalog (any more): nothing to show
    return job.state !== 'succeeded' || row.installed === true;
  }

  /** Whether the history lists a job in the given state (or does not list it at all). */
  function historyAgrees(body, job) {
    const list = body && Array.isArray(body.jobs) ? body.jobs : [];
    const row = list.find((j) => j && j.id === job.id);
    return !row || row.state === job.state;
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

  /** Remembers every id seen: accept(id) is true exactly once per id. Events without id always pass. */
  class EventDeduper {
    constructor() { this.seen = new Set(); this.lastId = null; this.duplicates = 0; }
    accept(id) {
      if (id == null || id === '') return true;
      id = String(id);
      if (this.seen.has(id)) { this.duplicates++; return false; }
      this.seen.add(id);
      this.lastId = id;
      return true;
    }
    has(id) { return this.seen.has(String(id)); }
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
    return url + (url.indexOf('?') >= 0 ? '&' : '?') + parts.join('&');
  }

  function parseData(text) {
    if (typeof text !== 'string') return text;
    try { return JSON.parse(text); } catch (_) { return text; }
  }

  function seconds(ms) { return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s'; }

  /**
   * What to tell the user after the stream broke, from the status endpoint's answer:
   * probe = {ok:true, status:{state,...}} | {ok:false, httpStatus:502} | {ok:false, error:'...'}.
   * Returns {kind: 'running'|'finished'|'unreachable'|'unknown-job', message}.
   */
  function describeInterruption(probe) {
    if (probe && probe.ok && probe.status) {
      const st = probe.status;
      const lines = st.lines != null ? ' (' + st.lines + ' lines so far)' : '';
      if (st.state === 'succeeded' || st.state === 'failed') {
        return { kind: 'finished', message: 'The stream was interrupted, but the job has already finished on the server (' +
          st.state + '); fetching the remaining lines.' };
      }
      return { kind: 'running', message: "The stream was interrupted, for example by a proxy's 502; " +
        'the install continues on the server' + lines + '.' };
    }
    if (probe && (probe.kind === 'truncated' || probe.kind === 'shape')) {
      return { kind: 'unreachable', message: 'The stream was interrupted and ' + probe.error.replace(/^the server's/, "the status endpoint's") +
        '; the install continues on the server; retrying.' };
    }
    if (probe && probe.httpStatus === 404) {
      return { kind: 'unknown-job', message: 'The server does not know this job (404).' };
    }
    if (probe && probe.httpStatus) {
      const proxyish = probe.httpStatus === 502 || probe.httpStatus === 503 || probe.httpStatus === 504;
      return { kind: 'unreachable', message: 'The stream was interrupted and the status endpoint answered ' +
        probe.httpStatus + (proxyish ? ' (a proxy cannot reach the server right now)' : '') +
        '; the install continues on the server, and this page will catch up when it is reachable again.' };
    }
    return { kind: 'unreachable', message: 'The stream was interrupted and the server cannot be reached (' +
      ((probe && probe.error) || 'network error') + '); the install continues on the server, and this page will catch up when it is reachable again.' };
  }

  const DEFAULTS = {
    pingIntervalMs: 15000,
    pingEvents: true,
    pingTimeoutMs: null,        // default: pingIntervalMs * 2 + 0.25 s
    statusTimeoutMs: 2000,      // the watchdog's status check (a reused dead connection would hang)
    maxStreamFailures: 3,
    backoff: { baseMs: 500, maxMs: 8000 },
    pollIntervalMs: 1000,
    pollLimit: 500,
    streamRetryMs: 8000,        // while polling, try streaming again after this (doubles, up to 60 s)
    watchdogMs: 500,
    requestTimeoutMs: 4000,
    onEvent: null,
    onState: null,
    onReset: null,
  };

  class ResilientStream {
    constructor(options) {
      const o = Object.assign({}, DEFAULTS, options || {});
      o.backoff = Object.assign({}, DEFAULTS.backoff, (options && options.backoff) || {});
      if (!o.eventsUrl || !o.logsUrl || !o.statusUrl) throw new Error('ResilientStream needs eventsUrl, logsUrl and statusUrl');
      this.o = o;
      this.env = {
        EventSource: o.EventSource || (typeof EventSource !== 'undefined' ? EventSource : null),
        fetch: o.fetch || (typeof fetch !== 'undefined' ? fetch.bind(globalThis) : null),
        now: o.now || (() => Date.now()),
        random: o.random || Math.random,
      };
      this.detector = new BufferingDetector({ pingIntervalMs: o.pingIntervalMs, pingEvents: o.pingEvents,
        silenceLimitMs: o.pingTimeoutMs });
      this.dedupe = new EventDeduper();
      this.state = 'idle';
      this.transport = 'stream';
      this.lastPingAt = null;
      this.lastEventAt = null;
      this.failures = 0;          // consecutive stream failures while the server itself answered
      this.attempt = 0;           // consecutive failures of any kind, for the backoff
      this.counters = { streams: 0, streamErrors: 0, polls: 0, pings: 0, events: 0, duplicates: 0, resets: 0, stalls: 0 };
      this.finished = false;
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
    }

    get lastId() { return this.dedupe.lastId; }

    /** Starts streaming; `fromId` resumes after that event (e.g. from a previous page). */
    start(fromId) {
      if (fromId != null && fromId !== '') this.dedupe.lastId = String(fromId);
      this._openStream(false);
      this._watchdog = setInterval(() => this._watch(), this.o.watchdogMs);
      return this;
    }

    /** Stops everything; no callback fires afterwards. */
    stop() {
      this.finished = true;
      this._closeStream();
      this._stopPolling();
      if (this._watchdog) clearInterval(this._watchdog);
      this._watchdog = null;
      for (const t of this._timers) clearTimeout(t);
      this._timers.clear();
    }

    _later(ms, fn) {
      const t = setTimeout(() => { this._timers.delete(t); if (!this.finished) fn(); }, ms);
      this._timers.add(t);
      return t;
    }

    _setState(state, message, info) {
      this.state = state;
      if (this.o.onState) {
        try { this.o.onState(state, message || '', Object.assign({ transport: this.transport, lastId: this.lastId }, info || {})); }
        catch (e) { console.error(e); }
      }
    }

    /** Delivers one event once; returns true when it was new. */
    _deliver(type, data, id) {
      if (this.finished) return false;
      if (!this.dedupe.accept(id)) { this.counters.duplicates++; return false; }
      this.counters.events++;
      this.lastEventAt = this.env.now();
      if (this.o.onEvent) {
        try { this.o.onEvent(type, data, id == null || id === '' ? null : String(id)); } catch (e) { console.error(e); }
      }
      if (type === 'done') this._finish(data);
      return true;
    }

    _finish(data) {
      if (this.finished) return;
      const state = data && data.state ? data.state : 'unknown';
      this.stop();
      const how = this.transport === 'polling' ? ' (by polling)' : '';
      this._setState('done', 'The server reports the job ' + state +
        (data && data.exit_code != null ? ' (exit code ' + data.exit_code + ')' : '') + how + '.', { jobState: state });
    }

    // ---- streaming ---------------------------------------------------------------------------

    _closeStream() {
      this._gen++;
      if (this._es) { try { this._es.close(); } catch (_) { /* ignore */ } }
      this._es = null;
    }

    _openStream(trial) {
      if (this.finished) return;
      this._closeStream();
      const ES = this.env.EventSource;
      if (!ES) { this._startPolling('This browser has no EventSource; polling instead.'); return; }
      const gen = this._gen;
      const url = withQuery(this.o.eventsUrl, { lastEventId: this.lastId });
      if (!trial) {
        this._setState('connecting', this.lastId ? 'Connecting to the stream, resuming after event #' + this.lastId + '.' :
          'Connecting to the stream.');
      }
      this.counters.streams++;
      this._nextCheckAt = 0;
      const es = new ES(url);
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
        const data = parseData(ev.data);
        if (type === 'ping') {
          this.counters.pings++;
          this.lastPingAt = now;
          const verdict = this.detector.notePing(now);
          healthy('a ping');
          if (verdict === 'burst') this._onBuffered('Pings arrive in a burst (' + this.detector.burstCount +
            ' within ' + seconds(this.detector.pings[this.detector.pings.length - 1].at - this.detector.pings[0].at) +
            ' after ' + seconds(this.detector.pings[0].gapBefore) + ' of silence): the stream looks buffered by a proxy.');
          return;
        }
        if (type === 'reset') { this._onReset(data); return; }
        const id = ev.lastEventId != null && ev.lastEventId !== '' ? ev.lastEventId : null;
        if (this._deliver(type, data, id)) { delivered = true; healthy('an event'); }
      };
      for (const t of ['log', 'progress', 'status', 'done', 'ping', 'reset', 'message']) es.addEventListener(t, handler(t));
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
      const probe = await this._probeStatus();
      if (this.finished) return;
      const d = describeInterruption(probe);
      // The same trouble again: say it briefly.
      const same = this._lastTrouble && this._lastTrouble.kind === d.kind && this._lastTrouble.httpStatus === probe.httpStatus;
      this._lastTrouble = { kind: d.kind, httpStatus: probe.httpStatus };
      const what = same ? 'Still interrupted (' + (probe.httpStatus ? 'HTTP ' + probe.httpStatus :
        d.kind === 'running' ? 'the server answers, the stream does not' : probe.error || 'unreachable') + ').' : d.message;
      if (d.kind === 'unknown-job') { this.stop(); this._setState('failed', d.message); return; }
      if (d.kind === 'finished') {
        this._startPolling(d.message, 'interrupted', { server: probe.status });
        return;
      }
      // Only failures of the stream itself (the server answers) count towards switching to polling:
      // when nothing answers, polling would fail just the same.
      if (d.kind === 'running' && !delivered) this.failures++;
      else if (d.kind === 'running') this.failures = 1;
      const info = { server: probe.ok ? probe.status : null, httpStatus: probe.httpStatus };
      if (this.failures >= this.o.maxStreamFailures) {
        this._startPolling(d.message + ' The stream failed ' + this.failures + ' times in a row while the server answers: ' +
          'switched to polling every ' + seconds(this.o.pollIntervalMs) + ' (streaming will be tried again).', 'polling', info);
        return;
      }
      const delay = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random);
      this._setState('retrying', what + ' Reconnecting in ' + seconds(delay) +
        (this.lastId ? ', resuming after event #' + this.lastId : '') + ' (attempt ' + this.attempt + ').',
        Object.assign({ delayMs: delay }, info));
      this._later(delay, () => this._openStream(false));
    }

    _get(url, shape, timeoutMs) {
      return fetchJson(this.env.fetch, url, { shape, timeoutMs: timeoutMs || this.o.requestTimeoutMs });
    }

    async _probeStatus(timeoutMs) {
      const r = await this._get(this.o.statusUrl, 'status', timeoutMs);
      return r.ok ? { ok: true, status: r.body } : r;
    }

    /** Forgets every event shown (the page clears its log): what follows is the log from the start. */
    _restartLog(why) {
      this._restartPending = false;
      this.dedupe = new EventDeduper();
      if (this.o.onReset) {
        try { this.o.onReset({ reason: why }); } catch (e) { console.error(e); }
      }
    }

    _onReset(data) {
      this.counters.resets++;
      const why = data && data.reason ? data.reason : 'unknown reason';
      const lost = data && data.lost != null ? data.lost + ' events' : 'some events';
      this._closeStream();
      // What we show may not be what the server has now (after a crash, events it had sent were lost and
      // their ids may name others): read its whole log from the start, and replace what is shown with it
      // as soon as the first page arrives.
      this._pollCursor = null;
      this._restartPending = true;
      this._startPolling('The server could not resume the stream after event #' + this.lastId + ' (' + why + '; ' + lost +
        ' no longer in its memory); reading the job\'s whole log again from the start.');
    }

    _onBuffered(message) {
      if (this.finished) return;
      const wasTrial = this._trial;
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
     * ping interval: says so at once, asks the status endpoint (at most statusTimeoutMs), then acts
     * whatever the answer - buffered (the server is ahead): polls; else (no answer, an error, or nothing
     * new): reconnects. The silent time told is measured from the last event or ping seen.
     */
    async _watch() {
      if (this.finished || !this._es || this._checking) return;
      const now = this.env.now();
      if (now < this._nextCheckAt || !this.detector.overdue(now)) return;
      this._checking = true;
      const gen = this._gen;
      const trial = this._trial;
      const since = this.detector.lastActivity;
      const timeoutMs = this.o.statusTimeoutMs;
      const expect = this.o.pingEvents ? ' (a ping is expected every ' + seconds(this.detector.pingIntervalMs) + ')' : '';
      const told = this.o.pingEvents && !trial;
      if (told) {
        this._setState('interrupted', 'Nothing received for ' + seconds(this.detector.silentFor(now)) + expect +
          '; asking the server what happened (waiting at most ' + seconds(timeoutMs) + ').',
        { probing: true, silentMs: this.detector.silentFor(now) });
      }
      try {
        const probe = await this._probeStatus(timeoutMs);
        if (this.finished || gen !== this._gen) return;
        const at = this.env.now();
        const silent = this.detector.silentFor(at);
        if (this.detector.lastActivity !== since) {
          // Something arrived meanwhile: the stream lives (it was only slow).
          if (told) this._setState('open', 'The stream is alive again (something arrived after ' + seconds(this.detector.lastActivity - since) + ' of silence).');
          return;
        }
        const st = probe.ok ? probe.status : null;
        const finished = !!st && (st.state === 'succeeded' || st.state === 'failed');
        const serverAhead = !!st && ((st.last_id != null && st.last_id !== '' && compareIds(st.last_id, this.lastId) > 0) || finished);
        if (serverAhead) {
          this._onBuffered('Nothing reached this page for ' + seconds(silent) + expect + ' while the server has events up to #' +
            st.last_id + (finished ? ' (the job has ' + st.state + ')' : '') +
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
          const why = probe.ok ? 'the server answers and has nothing newer'
            : probe.kind === 'timeout' ? 'the status check did not answer within ' + seconds(timeoutMs) + ' either'
              : 'the status check failed too (' + (probe.httpStatus ? 'HTTP ' + probe.httpStatus : probe.error) + ')';
          this.counters.streamErrors++;
          this.counters.stalls++;
          this._closeStream();
          const delay = fullJitterDelay(this.attempt++, this.o.backoff, this.env.random);
          this._setState('interrupted', 'No ping or event for ' + seconds(silent) + expect + '; ' + why +
            ': the stream is dead or held by a proxy; reconnecting' + (this.lastId ? ', resuming after event #' + this.lastId : '') + '.',
          { silentMs: silent, server: st, httpStatus: probe.httpStatus });
          this._later(delay, () => this._openStream(false));
        }
      } finally {
        this._checking = false;
      }
    }

    // ---- polling -----------------------------------------------------------------------------

    _startPolling(message, state, info) {
      if (this.finished) return;
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

    async _poll() {
      if (!this._polling || this.finished) return;
      this._pollTimer = null;
      let again = this.o.pollIntervalMs;
      const cursor = this._pollCursor === undefined ? this.lastId : this._pollCursor;
      const r = await this._get(withQuery(this.o.logsUrl, { after: cursor, limit: this.o.pollLimit }), 'logs');
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
          '); the install continues on the server; retrying in ' + seconds(retryIn) + '.');
        again = retryIn;
      } else {
        this.attempt = 0;
        const body = r.body;
        const events = body.events;
        if (body.reset === true && cursor) {
          // "These events do not continue from your `after`: here is the log from the job's start."
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
          if (ev.id != null) lastSeen = String(ev.id);
          if (ev.type === 'ping') continue;
          if (ev.type === 'reset') continue;
          this._deliver(ev.type || 'message', parseData(ev.data), ev.id);
        }
        if (this.finished) return;
        if (this._pollCursor !== undefined) {
          // Re-reading from the start after a reset: walk the log with our own cursor until caught up.
          this._pollCursor = lastSeen;
          if (!events.length || compareIds(lastSeen, this.lastId) >= 0) this._pollCursor = undefined;
        }
        if (body.done) {
          const st = await this._probeStatus();
          if (this.finished) return;
          if (events.length >= this.o.pollLimit) again = 0;
          else {
            // The log is complete but its done event was not in it: take the server's status.
            const s = st.ok ? st.status : { state: body.state };
            this._finish({ state: s.state || body.state, exit_code: s.exit_code, lines: s.lines });
            return;
          }
        } else if (events.length >= this.o.pollLimit) {
          again = 0;
        }
      }
      this._pollTimer = this._later(again, () => this._poll());
    }
  }

  return { ResilientStream, BufferingDetector, EventDeduper, fullJitterDelay, equalJitterDelay, compareIds, withQuery,
    describeInterruption, parseData, fetchJson, reloadUntil, SHAPES, componentsAgree, historyAgrees, seconds };
});
