// The Proxy panel's path test: a short in-browser run of the server's probe route
// (/.well-known/sse-probe, sse-installer --probe; see include/sse/probe.hpp and tools/sse-doctor),
// through the very path the page's streams take. It adds one row, "Path test", under "Proxy":
//   - buffering: events sent 200 ms apart must arrive 200 ms apart (arrival gaps against the
//     server's send times: no synchronised clocks needed);
//   - idle: a 4 s silent gap must survive;
//   - reconnection: after the probe's end the browser reconnects on its own, and the server must
//     get the Last-Event-ID;
//   - what reached the server: HTTP version, Via / X-Forwarded-For / Forwarded.
// analyse() is pure (measurements in, verdict out); run() does the I/O. Nothing else on the page
// is touched. For the full diagnosis and the configuration lines to fix a proxy, run sse-doctor.
(function () {
  'use strict';
  const PROBE = 'events=10&interval=200&pad=256,1024,4096,16384&gap=4000';
  const GAP_MS = 4000;
  const BUFFERED_MS = 400;

  /** Verdict from measurements: {events: [{type, sent_ms, at_ms}], hello, gapArrived, cutAfterMs,
   *  reconnectHello, sentLastId}. Returns {ok, lines: [string]}. Pure. */
  function analyse(m) {
    const lines = [];
    let ok = true;
    const timed = m.events.filter((e) => e.sent_ms >= 0);
    if (timed.length >= 3) {
      const offsets = timed.map((e) => e.at_ms - e.sent_ms);
      const hold = Math.max(...offsets) - Math.min(...offsets);
      if (hold > BUFFERED_MS) {
        ok = false;
        lines.push('BUFFERED: events held up to ' + Math.round(hold) + ' ms on the way (compression or proxy buffering)');
      } else {
        lines.push('events arrive as sent (held ' + Math.round(hold) + ' ms at most)');
      }
    } else {
      ok = false;
      lines.push('only ' + timed.length + ' timed events arrived');
    }
    if (m.gapArrived) {
      lines.push('a ' + GAP_MS / 1000 + ' s silence survived');
    } else if (m.cutAfterMs != null) {
      ok = false;
      lines.push('IDLE CUT: the stream was cut after ' + (m.cutAfterMs / 1000).toFixed(1) + ' s of silence');
    } else {
      ok = false;
      lines.push('SILENT STALL: nothing arrived after a ' + GAP_MS / 1000 + ' s silence');
    }
    if (m.reconnectHello) {
      const got = (m.reconnectHello.headers || {})['Last-Event-ID'];
      if (got === m.sentLastId) lines.push('Last-Event-ID reaches the server on reconnect');
      else { ok = false; lines.push('LAST-EVENT-ID LOST on reconnect (sent ' + m.sentLastId + ', got ' + (got || 'none') + ')'); }
    }
    if (m.hello) {
      const h = m.hello.headers || {};
      const via = ['Via', 'Forwarded', 'X-Forwarded-For'].filter((k) => h[k]).map((k) => k + ': ' + h[k]);
      lines.push('the server got HTTP/' + m.hello.http + (via.length ? ' (' + via.join('; ') + ')' : ''));
    }
    return { ok, lines };
  }

  function parse(data) { try { return JSON.parse(data); } catch (_) { return null; } }

  /** The main probe: timed events, padding, one silent gap. Resolves with measurements. */
  function mainProbe(url) {
    return new Promise((resolve) => {
      const m = { events: [], hello: null, gapArrived: false, cutAfterMs: null };
      const t0 = performance.now();
      let lastAt = t0;
      const es = new EventSource(url + '?' + PROBE);
      const done = () => { clearTimeout(timer); es.close(); resolve(m); };
      const timer = setTimeout(done, 2000 + 14 * 200 + GAP_MS + 3000);
      const on = (type) => (ev) => {
        const d = parse(ev.data) || {};
        lastAt = performance.now();
        m.events.push({ type, sent_ms: typeof d.t_us === 'number' ? d.t_us / 1000 : -1, at_ms: lastAt - t0 });
        if (type === 'hello') m.hello = d;
        if (type === 'gap') m.gapArrived = true;
        if (type === 'end') done();
      };
      for (const t of ['hello', 'tick', 'pad', 'end']) es.addEventListener(t, on(t));
      es.addEventListener('gap', (ev) => { on('gap')(ev); m.events.pop(); });  // not a timing sample
      es.onerror = () => {
        if (m.hello && !m.gapArrived) m.cutAfterMs = performance.now() - lastAt;
        done();
      };
    });
  }

  /** The reconnection probe: a probe that ends at once; the browser reconnects by itself with the
   *  last id it saw, and the second hello says what the server got. */
  function reconnectProbe(url) {
    return new Promise((resolve) => {
      const r = { sentLastId: null, reconnectHello: null };
      const es = new EventSource(url + '?events=0');
      const done = () => { clearTimeout(timer); es.close(); resolve(r); };
      const timer = setTimeout(done, 9000);
      let hellos = 0;
      es.addEventListener('hello', (ev) => {
        if (++hellos === 2) { r.reconnectHello = parse(ev.data); done(); }
      });
      es.addEventListener('end', (ev) => { r.sentLastId = ev.lastEventId; });
    });
  }

  async function run(row) {
    const url = new URL('.well-known/sse-probe', location.href).pathname;  // relative: works under a path prefix too
    const head = await fetch(url, { method: 'HEAD' }).catch(() => null);
    if (!head || head.status === 404) {
      row.textContent = 'not available (start sse-installer with --probe to test the path)';
      row.className = 'muted';
      return;
    }
    if (!head.ok) { row.textContent = 'probe answered HTTP ' + head.status; row.className = 'warn-text'; return; }
    row.textContent = 'testing the path (about 8 s)…';
    const [m, r] = await Promise.all([mainProbe(url), reconnectProbe(url)]);
    const v = analyse(Object.assign(m, r));
    row.textContent = (v.ok ? 'clean: ' : 'problem: ') + v.lines.join('; ');
    row.className = v.ok ? '' : 'warn-text';
    row.dataset.verdict = v.ok ? 'clean' : 'problem';
  }

  window.sseProxyProbe = { analyse, run };
  document.addEventListener('DOMContentLoaded', () => {
    const proxy = document.getElementById('conn-proxy');
    if (!proxy || typeof EventSource === 'undefined') return;
    const dt = document.createElement('dt');
    dt.textContent = 'Path test';
    const dd = document.createElement('dd');
    dd.id = 'conn-path-test';
    dd.textContent = '–';
    proxy.after(dt, dd);
    run(dd);
  });
})();
