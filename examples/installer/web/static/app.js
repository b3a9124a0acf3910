// The installer page: component list, install button, live log, progress, status badge, history.
// Every state shown comes from the server (the component list, the job's events, its status); the
// connection itself is handled by SSEClient.ResilientStream (sse-client.js).
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
  };
  window.installerApp = app;  // for the browser tests and the curious

  // ---- HTTP helpers -----------------------------------------------------------------------------

  function apiUrl(path) { return path.startsWith('/') ? path.slice(1) : path; }  // relative: works under a prefix

  async function getJson(path) {
    const res = await fetch(apiUrl(path), { cache: 'no-store', headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON (a proxy's error page) */ }
    if (!res.ok) {
      const err = new Error((body && body.error) || ('HTTP ' + res.status));
      err.status = res.status;
      throw err;
    }
    return body;
  }

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
    try {
      const d = await getJson('/api/diagnostics');
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
    } catch (e) {
      $('#conn-proxy').textContent = 'unknown (' + e.message + ')';
    }
  }

  // ---- components ---------------------------------------------------------------------------------

  async function loadComponents() {
    let list;
    try {
      list = (await getJson('/api/components')).components || [];
    } catch (e) {
      notice('Could not load the components: ' + e.message, 'error', 'components');
      return [];
    }
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
    return list;
  }

  async function install(name) {
    const headers = { Accept: 'application/json' };
    const token = $('#token').value.trim();
    if (token) headers.Authorization = 'Bearer ' + token;
    let res, body = null;
    try {
      res = await fetch(apiUrl('/api/components/' + encodeURIComponent(name) + '/install'), { method: 'POST', headers });
      try { body = await res.json(); } catch (_) { /* not JSON */ }
    } catch (e) {
      notice('Could not start the install of ' + name + ': ' + e.message, 'error', 'install');
      return;
    }
    if (res.status === 202 && body && body.job) {
      openJob(body.job, body);
    } else if (res.status === 409 && body && body.job) {
      notice(name + ' is already being installed; showing that job.', 'info', 'install');
      openJob(body.job);
    } else if (res.status === 401) {
      notice('The server wants a token for installs (401): set it under Settings.', 'error', 'install');
      $('footer details').open = true;
    } else {
      notice('Install of ' + name + ' refused: ' + ((body && body.error) || 'HTTP ' + res.status), 'error', 'install');
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
        loadComponents();
        loadHistory();
        break;
      default: break;
    }
  }

  function onState(state, message, info) {
    setConnState(state, info && info.transport);
    if (state === 'done') {
      notice(message, info && info.jobState === 'failed' ? 'error' : 'ok', state);
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
    try {
      const st = await getJson(urls.status || base);
      if (app.job.id !== jobId) return;
      app.job.component = st.component;
      $('#job-component').textContent = st.component ? '(' + st.component + ')' : '';
      setBadge(st.state);
    } catch (e) {
      if (e.status === 404) { setBadge('unknown'); notice('The server does not know job ' + jobId + '.', 'error', 'failed'); return; }
    }
    if (app.job.id !== jobId) return;
    const d = app.diagnostics || {};
    app.client = new SSEClient.ResilientStream({
      eventsUrl: apiUrl(urls.events || base + '/events'),
      logsUrl: apiUrl(urls.logs || base + '/logs'),
      statusUrl: apiUrl(urls.status || base),
      pingIntervalMs: d.ping_interval_ms || 15000,
      pingEvents: d.ping_form ? d.ping_form === 'event' : true,
      onEvent,
      onState,
    });
    app.client.start();
  }

  // ---- history ------------------------------------------------------------------------------------

  async function loadHistory() {
    let jobs;
    try { jobs = (await getJson('/api/jobs')).jobs || []; } catch (_) { return; }
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
  setInterval(loadHistory, 15000);

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
