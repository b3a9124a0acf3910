// Test doubles for the package's unit tests: a fake SSE server (its EventSource and the fetch that
// probes the stream URL) and an in-memory Web Locks manager. BroadcastChannel is Node's own.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(what, fn, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(2);
  }
}

/**
 * One stream of events with ids "1".."n", like a topic of sse-hub: a connection without lastEventId
 * gets the live events only (or, with `replayAll`, the whole history first); with one, the events after it.
 */
export class FakeServer {
  constructor(n = 0, { replayAll = false } = {}) {
    this.events = [];
    this.sources = [];
    this.requests = [];
    this.replayAll = replayAll;
    this.mode = 'ok';            // ok | fail (every EventSource errors at once)
    this.probeStatus = 200;      // what the stream URL answers to the client's probe
    this.probeHeaders = {};
    for (let i = 1; i <= n; ++i) this.add('message', 'event ' + i);
  }
  add(type, data) {
    const ev = { id: String(this.events.length + 1), type, data };
    this.events.push(ev);
    for (const es of this.sources) if (!es.closed && es.live) es.deliver(ev);
    return ev;
  }
  after(id) { return id == null ? [] : this.events.filter((e) => Number(e.id) > Number(id)); }
  get open() { return this.sources.filter((s) => !s.closed && s.live).length; }

  get EventSource() {
    const server = this;
    return class FakeEventSource {
      constructor(url) {
        this.url = url;
        this.listeners = {};
        this.closed = false;
        this.live = false;
        server.sources.push(this);
        server.requests.push('stream ' + url);
        setTimeout(() => this.connect(), 1);
      }
      addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
      close() { this.closed = true; this.live = false; }
      fire(type, ev) { if (!this.closed) for (const fn of this.listeners[type] || []) fn(ev); }
      deliver(e) { this.fire(e.type, { data: typeof e.data === 'string' ? e.data : JSON.stringify(e.data), lastEventId: e.id ?? '' }); }
      ping() { this.fire('ping', { data: 'p', lastEventId: '' }); }
      connect() {
        if (this.closed) return;
        if (server.mode === 'fail') { this.onerror && this.onerror({}); return; }
        this.onopen && this.onopen({});
        const m = /lastEventId=([^&]+)/.exec(this.url);
        const from = m ? decodeURIComponent(m[1]) : null;
        const backlog = from == null ? (server.replayAll ? server.events : []) : server.after(from);
        for (const e of backlog) this.deliver(e);
        this.live = true;
      }
      drop() { this.live = false; if (!this.closed && this.onerror) this.onerror({}); }
    };
  }

  get fetch() {
    return async (url, init) => {
      this.requests.push('fetch ' + url + ' ' + ((init && init.headers && init.headers.Accept) || ''));
      const headers = this.probeHeaders;
      return { ok: this.probeStatus >= 200 && this.probeStatus < 300, status: this.probeStatus,
        headers: { get: (k) => headers[k] ?? headers[k.toLowerCase()] ?? null }, text: async () => '' };
    };
  }
}

/**
 * An in-memory Web Locks manager (exclusive locks, FIFO, AbortSignal while waiting): what
 * navigator.locks does across the tabs of one origin. `crash(holder)` ends a holder's lock as the
 * browser does when its tab dies (the callback's promise never settles).
 */
export class FakeLocks {
  constructor() { this.queues = new Map(); this.holders = new Map(); this.grants = 0; }
  request(name, options, callback) {
    if (typeof options === 'function') { callback = options; options = {}; }
    return new Promise((resolve, reject) => {
      const entry = { callback, resolve, reject, signal: options && options.signal };
      if (entry.signal) {
        if (entry.signal.aborted) { reject(new Error('AbortError')); return; }
        entry.signal.addEventListener('abort', () => {
          const q = this.queues.get(name) || [];
          const i = q.indexOf(entry);
          if (i >= 0) { q.splice(i, 1); reject(Object.assign(new Error('aborted'), { name: 'AbortError' })); }
        });
      }
      const q = this.queues.get(name) || [];
      this.queues.set(name, q);
      if (options && options.steal) {
        // The holder loses the lock at once (its request rejects with AbortError); the thief is next.
        const h = this.holders.get(name);
        q.unshift(entry);
        if (h) h.release(false, Object.assign(new Error('stolen'), { name: 'AbortError' }));
        else this.#grant(name);
        return;
      }
      q.push(entry);
      this.#grant(name);
    });
  }
  #grant(name) {
    if (this.holders.get(name)) return;
    const q = this.queues.get(name) || [];
    const next = q.shift();
    if (!next) return;
    this.holders.set(name, next);
    this.grants++;
    const done = (ok, v) => {
      if (this.holders.get(name) !== next) return;
      this.holders.delete(name);
      if (ok) next.resolve(v); else next.reject(v);
      this.#grant(name);
    };
    next.release = done;
    Promise.resolve().then(() => next.callback({ name, mode: 'exclusive' })).then((v) => done(true, v), (e) => done(false, e));
  }
  /** The holder of `name` vanishes (its tab crashed): the lock goes to the next in line. */
  crash(name) {
    const h = this.holders.get(name);
    if (h) h.release(false, new Error('crashed'));
  }
}
