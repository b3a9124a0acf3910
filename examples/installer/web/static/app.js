// The installer page: component list, install button, live log, progress, status badge, history.
// Every state shown comes from the server (the component list, the job's events, its status); the
// connection itself is handled by SSEClient.ResilientStream (the client package clients/js, served by
// sse-installer at /client/sse-client.js), with the installer's endpoints plugged in as its hooks
// (static/installer.js). Tabs showing the same job share one connection (?share=0: this tab opts out).
(function () {
  'use strict';

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props, ...children) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') n.className = v;
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (v != null) n.setAttribute(k, v);
    }
    for (const c of children) if (c != null) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  };

  const app = {
    diagnostics: null,
    job: null,          // {id, component, urls}
    client: null,       // the ResilientStream of the job shown
    lines: 0,
    lastPingAt: null,
    notices: [],
    componentNotices: [],  // what the components panel said, in order
  };
  window.installerApp = app;  // for the browser tests and the curious

  // ---- HTTP helpers -----------------------------------------------------------------------------

  function apiUrl(path) { return path.startsWith('/') ? path.slice(1) : path; }  // relative: works under a prefix

  // Every JSON request of the page goes through SSEClient.fetchJson: bounded in time, the body checked
  // against the shape the caller needs (a body cut off by a proxy is "the server's answer was cut off").
  const REQUEST_TIMEOUT_MS = 8000;
  const pageFetch = (url, init) => fetch(url, init);
  function api(path, shape, init) {
    return SSEClient.fetchJson(pageFetch, apiUrl(path), { shape: InstallerPage.SHAPES[shape], timeoutMs: REQUEST_TIMEOUT_MS, init });
  }
  const seconds = SSEClient.seconds;

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  // ---- notices and connection panel ---------------------------------------------------------------

  const LEVEL = { connecting: 'info', open: 'ok', interrupted: 'warn', retrying: 'warn', polling: 'warn',
    buffering: 'warn', done: 'ok', failed: 'error' };

  function notice(message, level, state, opts) {
    const box = $('#notice');
    box.hidden = !message;
    box.className = 'notice ' + (level || 'info');
    box.textContent = message || '';
    if (!message || (opts && opts.transient)) return;  // transient: the banner only, not the list
    const when = new Date();
    app.notices.push({ at: when.toISOString(), state: state || '', level: level || 'info', message });
    const li = el('li', { class: level || 'info', dataset: { state: state || '' } },
      el('time', {}, when.toLocaleTimeString()), ' ', el('b', {}, state || 'note'), ' ', el('span', { class: 'msg' }, message));
    const list = $('#notices');
    list.append(li);
    list.scrollTop = list.scrollHeight;
    $('#notice-count').textContent = String(app.notices.length);
  }

  function setConnState(state, transport) {
    const pill = $('#conn-state');
    pill.textContent = state;
    pill.className = 'pill ' + state;
    document.body.dataset.state = state;
    if (transport) {
      document.body.dataset.transport = transport;
      $('#conn-transport').textContent = transport === 'polling' ? 'polling (JSON)' : 'stream (EventSource)';
    }
  }

  function tickConnPanel() {
    const c = app.client;
    if (c) {
      $('#conn-last-id').textContent = c.lastId ? '#' + c.lastId : '–';
      app.lastPingAt = c.lastPingAt || app.lastPingAt;
    }
    if (app.lastPingAt) {
      const age = (Date.now() - app.lastPingAt) / 1000;
      $('#conn-ping').textContent = age.toFixed(1) + ' s ago';
    } else if (app.diagnostics) {
      const d = app.diagnostics;
      $('#conn-ping').textContent = d.ping_form === 'event'
        ? 'none yet (expected every ' + (d.ping_interval_ms / 1000) + ' s when idle)'
        : 'pings are comments (invisible to the page)';
    }
  }

  async function loadDiagnostics() {
    const r = await api('/api/diagnostics', 'object');
    if (!r.ok) { $('#conn-proxy').textContent = 'unknown (' + r.error + ')'; return; }
    {
      const d = r.body;
      app.diagnostics = d;
      const parts = [];
      if (d.via) parts.push('Via: ' + d.via);
      if (d.x_forwarded_for) parts.push('X-Forwarded-For: ' + d.x_forwarded_for);
      if (d.x_real_ip) parts.push('X-Real-IP: ' + d.x_real_ip);
      if (d.forwarded) parts.push('Forwarded: ' + d.forwarded);
      if (d.x_forwarded_proto) parts.push('X-Forwarded-Proto: ' + d.x_forwarded_proto);
      // Several instances sharing Redis (sse-installer --redis): which one answered.
      $('#conn-instance').hidden = $('#conn-instance-label').hidden = !d.instance;
      if (d.instance) $('#conn-instance').textContent = d.instance + ' (one of several sharing Redis; any of them can serve this job)';
      const proxy = $('#conn-proxy');
      if (d.proxied) {
        proxy.textContent = 'a proxy is between us' + (parts.length ? ': ' + parts.join('; ') : '') +
          ' (the server sees HTTP/' + d.http_version + ' from ' + d.remote + ')';
        proxy.className = 'warn-text';
      } else {
        proxy.textContent = 'none seen (HTTP/' + d.http_version + ' from ' + d.remote + ')';
        proxy.className = '';
      }
    }
  }

  // ---- components ---------------------------------------------------------------------------------

  /** The components panel's own notice: never replaces the job's banner; hidden once a reload works. */
  function componentsNotice(message, level) {
    const box = $('#components-notice');
    box.hidden = !message;
    box.className = 'notice small ' + (level || 'info');
    box.textContent = message || '';
    if (message) app.componentNotices.push({ at: new Date().toISOString(), level: level || 'info', message });
  }

  let componentsSeq = 0;       // a newer reload supersedes an older one
  let componentsStale = null;  // null, or what the last reload could not confirm (tried again every 15 s)

  /**
   * Loads the components table; with `job` ({id, component, state} of a finished job) reloads, with a
   * capped backoff and a bounded number of attempts, until the table agrees with the job's final state.
   * Every valid answer is shown; failures are told in the panel's own notice.
   */
  async function loadComponents(job) {
    const seq = ++componentsSeq;
    const verb = job ? 'refresh' : 'load';
    const r = await SSEClient.reloadUntil(pageFetch, apiUrl('/api/components'), {
      shape: InstallerPage.SHAPES.components, timeoutMs: REQUEST_TIMEOUT_MS, maxAttempts: job ? 10 : 6, backoff: { baseMs: 500, maxMs: 5000 },
      agrees: job ? (b) => InstallerPage.componentsAgree(b, job) : null,
      cancelled: () => seq !== componentsSeq,
      onAttempt: (res, a) => {
        if (seq !== componentsSeq) return;
        if (res.ok) renderComponents(res.body.components);
        if (a.agreed) { componentsNotice(''); return; }
        const why = res.ok ? 'the server does not show the end of job ' + job.id + ' yet' : res.error;
        if (a.willRetry) {
          componentsNotice('Could not ' + verb + ' the components: ' + why + '; retrying in ' + seconds(a.delayMs) +
            ' (attempt ' + a.attempt + ' of ' + a.maxAttempts + ').', 'warn');
        } else {
          componentsNotice('The components list may be out of date: ' + why + ' (' + a.attempt +
            ' attempts); it is tried again every 15 s.', 'error');
        }
      },
    });
    if (seq === componentsSeq && !r.cancelled) componentsStale = r.ok ? null : { job: job || null };
    if (r.ok) return r.body.components;
    return r.last && r.last.ok ? r.last.body.components : [];
  }

  function renderComponents(list) {
    const body = $('#components tbody');
    body.replaceChildren();
    for (const c of list) {
      let state;
      if (c.running_job) state = el('span', { class: 'badge running' }, 'installing');
      else if (c.installed) state = el('span', { class: 'badge succeeded', title: fmtTime(c.installed_at) },
        'installed' + (c.installed_version ? ' ' + c.installed_version : ''));
      else state = el('span', { class: 'badge idle' }, 'not installed');
      const button = el('button', { type: 'button', class: 'install', dataset: { component: c.name },
        onclick: () => install(c.name) }, c.installed ? 'Reinstall' : 'Install');
      if (c.running_job) button.disabled = true;
      const row = el('tr', { dataset: { component: c.name, installed: String(!!c.installed) } },
        el('td', {}, el('b', {}, c.name), el('div', { class: 'muted small' }, c.description || '')),
        el('td', { class: 'mono' }, c.version || ''),
        el('td', { class: 'state' }, state,
          c.running_job ? el('a', { href: '#job=' + c.running_job, class: 'small', onclick: (ev) => { ev.preventDefault(); openJob(c.running_job); } }, ' view') : null),
        el('td', {}, button));
      body.append(row);
    }
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'The catalog is empty.')));
  }

  async function install(name) {
    const headers = { Accept: 'application/json', 'X-Installer-Request': '1' };  // the server refuses a POST without it (CSRF)
    const token = $('#token').value.trim();
    if (token) headers.Authorization = 'Bearer ' + token;
    // Not retried (not idempotent): an unusable answer is told, and the lists show what really happened.
    const res = await api('/api/components/' + encodeURIComponent(name) + '/install', 'object', { method: 'POST', headers });
    const body = res.ok || res.kind === 'http' ? res.body : null;
    if (!res.ok && res.kind !== 'http') {
      notice('Could not start the install of ' + name + ': ' + res.error +
        (res.httpStatus ? '; it may have started: see the components and the history.' : '.'), 'error', 'install');
    } else if (res.httpStatus === 202 && body && body.job) {
      openJob(body.job, body);
    } else if (res.httpStatus === 409 && body && body.job) {
      notice(name + ' is already being installed; showing that job.', 'info', 'install');
      openJob(body.job);
    } else if (res.httpStatus === 401) {
      notice('The server wants a token for installs (401): set it under Settings.', 'error', 'install');
      $('footer details').open = true;
    } else {
      notice('Install of ' + name + ' refused: ' + res.error, 'error', 'install');
    }
    loadComponents();
    loadHistory();
  }

  // ---- the job view -------------------------------------------------------------------------------

  function setBadge(state) {
    const b = $('#badge');
    b.textContent = state;
    b.className = 'badge ' + state;
    document.body.dataset.job = state;
  }

  function setProgress(percent, step) {
    const p = Math.max(0, Math.min(100, Number(percent) || 0));
    const bar = $('#progress-bar');
    bar.style.width = p + '%';
    bar.setAttribute('aria-valuenow', String(p));
    $('#progress-percent').textContent = Math.round(p) + '%';
    if (step != null) $('#progress-step').textContent = step;
  }

  function appendLog(data, id) {
    const log = $('#log');
    const follow = $('#follow').checked;
    const d = typeof data === 'object' && data ? data : { line: String(data) };
    const li = el('li', { class: 'line ' + (d.level || 'info'), dataset: { id: id || '', seq: d.seq != null ? d.seq : '' } },
      el('span', { class: 'ts' }, d.ts ? new Date(d.ts).toLocaleTimeString() : ''),
      el('span', { class: 'text' }, d.line != null ? d.line : ''));
    log.append(li);
    app.lines++;
    $('#line-count').textContent = app.lines + (app.lines === 1 ? ' line' : ' lines');
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function onEvent(type, data, id) {
    switch (type) {
      case 'log': appendLog(data, id); break;
      case 'progress': setProgress(data.percent, data.step); break;
      case 'status': if (data && data.state) setBadge(data.state); break;
      case 'done':
        setBadge(data.state);
        if (data.state === 'succeeded') setProgress(100, 'done');
        $('#progress-bar').className = data.state;
        {
          // Reload until both tables show the job's end (a proxy's 502 or a cut-off answer is retried).
          const job = { id: app.job.id, component: app.job.component, state: data.state };
          loadComponents(job);
          loadHistory(job);
        }
        break;
      default: break;
    }
  }

  /** The client re-reads the job's log from its start (after a reset): show only what follows. */
  function onReset() {
    $('#log').replaceChildren();
    app.lines = 0;
    $('#line-count').textContent = '0 lines';
    setProgress(0, '');
  }

  function onState(state, message, info) {
    setConnState(state, info && info.transport);
    if (state === 'done') {
      notice(InstallerPage.doneMessage(info), info && info.jobState === 'failed' ? 'error' : 'ok', state);
    } else if (state === 'open') {
      // Back to normal after a warning (or back from polling): say so; a first connect stays quiet.
      if (/again/.test(message) || $('#notice').classList.contains('warn')) notice(message, 'ok', state);
    } else if (state === 'connecting') {
      // Quiet: shown in the connection panel only.
    } else {
      notice(message, LEVEL[state] || 'info', state, { transient: !!(info && info.probing) });
    }
    tickConnPanel();
  }

  async function openJob(jobId, urls) {
    if (app.client) app.client.stop();
    app.client = null;
    const base = '/api/jobs/' + encodeURIComponent(jobId);
    urls = urls || {};
    app.job = { id: jobId, component: urls.component || '' };
    app.lines = 0;
    app.lastPingAt = null;
    $('#log').replaceChildren();
    $('#line-count').textContent = '0 lines';
    $('#job-id').textContent = jobId;
    $('#job-component').textContent = urls.component || '';
    $('#progress-bar').className = '';
    setProgress(0, '');
    setBadge('connecting');
    notice('', 'info');
    if (location.hash !== '#job=' + jobId) history.replaceState(null, '', '#job=' + encodeURIComponent(jobId));
    for (const tr of document.querySelectorAll('#history tbody tr')) tr.classList.toggle('current', tr.dataset.job === jobId);

    // The status endpoint says what the job is before any event arrives.
    {
      const r = await api(urls.status || base, 'status');
      if (app.job.id !== jobId) return;
      if (r.ok) {
        const st = r.body;
        app.job.component = st.component;
        $('#job-component').textContent = st.component ? '(' + st.component + ')' : '';
        setBadge(st.state);
      } else if (r.httpStatus === 404) {
        setBadge('unknown'); notice('The server does not know job ' + jobId + '.', 'error', 'failed'); return;
      }
    }
    if (app.job.id !== jobId) return;
    const d = app.diagnostics || {};
    const hooks = InstallerPage.jobStreamOptions({
      events: apiUrl(urls.events || base + '/events'),
      logs: apiUrl(urls.logs || base + '/logs'),
      status: apiUrl(urls.status || base),
    }, pageFetch);
    // ?share=0 in the page's address: this tab reads the job on its own connection.
    const share = !/[?&]share=0\b/.test(location.search);
    app.client = new SSEClient.ResilientStream(Object.assign(hooks, {
      share,
      pingIntervalMs: d.ping_interval_ms || 15000,
      pingEvents: d.ping_form ? d.ping_form === 'event' : true,
      onEvent,
      onState,
      onReset,
    }));
    app.client.start();
  }

  // ---- history ------------------------------------------------------------------------------------

  let historySeq = 0;
  let historyUntil = false;  // a reload until a job's end is running: the periodic one waits

  /** Loads the history (quietly: it is reloaded every 15 s); with `job`, until it shows the job's end. */
  async function loadHistory(job) {
    if (!job && historyUntil) return;
    const seq = ++historySeq;
    historyUntil = !!job;
    await SSEClient.reloadUntil(pageFetch, apiUrl('/api/jobs'), {
      shape: InstallerPage.SHAPES.jobs, timeoutMs: REQUEST_TIMEOUT_MS, maxAttempts: job ? 8 : 1, backoff: { baseMs: 500, maxMs: 5000 },
      agrees: job ? (b) => InstallerPage.historyAgrees(b, job) : null,
      cancelled: () => seq !== historySeq,
      onAttempt: (res) => { if (res.ok && seq === historySeq) renderHistory(res.body.jobs); },
    });
    if (seq === historySeq) historyUntil = false;
  }

  function renderHistory(jobs) {
    const body = $('#history tbody');
    body.replaceChildren();
    for (const j of jobs) {
      const row = el('tr', { dataset: { job: j.id }, class: app.job && app.job.id === j.id ? 'current' : '' },
        el('td', {}, el('b', {}, j.component), el('div', { class: 'mono small muted' }, j.id)),
        el('td', {}, el('span', { class: 'badge ' + j.state }, j.state)),
        el('td', { class: 'small', title: fmtTime(j.started) }, j.started ? new Date(j.started).toLocaleTimeString() : ''),
        el('td', {}, j.lines != null ? String(j.lines) : ''),
        el('td', {}, el('button', { type: 'button', class: 'open-log', onclick: () => openJob(j.id) }, 'Open log')));
      body.append(row);
    }
    if (!jobs.length) body.append(el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No jobs yet.')));
  }

  // ---- start --------------------------------------------------------------------------------------

  $('#log').addEventListener('scroll', () => {
    const log = $('#log');
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
    $('#follow').checked = atBottom;
  });
  $('#follow').addEventListener('change', () => { if ($('#follow').checked) $('#log').scrollTop = $('#log').scrollHeight; });
  try { $('#token').value = sessionStorage.getItem('installer-token') || ''; } catch (_) { /* storage off */ }
  $('#token').addEventListener('change', () => { try { sessionStorage.setItem('installer-token', $('#token').value); } catch (_) { /* */ } });
  setInterval(tickConnPanel, 500);
  setInterval(() => {
    loadHistory();
    if (componentsStale) loadComponents(componentsStale.job);
  }, 15000);

  (async () => {
    await loadDiagnostics();
    const [components] = await Promise.all([loadComponents(), loadHistory()]);
    const m = /^#job=(.+)$/.exec(location.hash);
    if (m) { openJob(decodeURIComponent(m[1])); return; }
    const running = components.find((c) => c.running_job);
    if (running) openJob(running.running_job);
    document.body.dataset.ready = 'true';
  })().finally(() => { document.body.dataset.ready = 'true'; });
})();
