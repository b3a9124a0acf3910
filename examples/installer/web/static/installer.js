/**
 * installer.js - what the installer page adds to the generic client (clients/js, served at
 * /client/sse-client.js): the shapes of its JSON answers, when its tables agree with a finished job,
 * and the hooks that plug its status and polling endpoints into SSEClient.ResilientStream.
 * No build step: <script src="static/installer.js"> after the client defines `InstallerPage`; Node
 * require()s it for the unit tests (tests/browser/installer-page.test.mjs).
 *
 * The installer's endpoints:
 *   GET /api/jobs/{id}/events   the stream: log, progress, status, done (ids <run>-<seq>; ?lastEventId= resumes)
 *   GET /api/jobs/{id}/logs?after=ID&limit=N   {events:[{id,type,data}], last_id, done, state, reset?}
 *   GET /api/jobs/{id}          {state, last_id, lines, exit_code, component}
 */
(function (root, factory) {
  const api = factory(root);
  if (typeof module === 'object' && module && module.exports) module.exports = api;
  else root.InstallerPage = api;
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
  'use strict';

  const SSEClient = typeof module === 'object' && module && module.exports && typeof require === 'function'
    ? require(process.env.SSE_CLIENT_JS || '../../../../clients/js/sse-client.js')
    : root.SSEClient;

  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const listOf = (field, what, itemOk) => (b) => {
    if (!isObject(b)) return 'not a JSON object';
    if (!Array.isArray(b[field])) return 'no "' + field + '" list';
    return b[field].every(itemOk) ? null : what;
  };

  /** The shapes the page relies on, one per endpoint (for SSEClient.fetchJson). */
  const SHAPES = {
    object: (b) => (isObject(b) ? null : 'not a JSON object'),
    components: listOf('components', 'a component without a name',
      (c) => isObject(c) && typeof c.name === 'string'),
    jobs: listOf('jobs', 'a job without an id or state',
      (j) => isObject(j) && typeof j.id === 'string' && typeof j.state === 'string'),
    status: (b) => (!isObject(b) ? 'not a JSON object' : typeof b.state !== 'string' ? 'no "state"' : null),
    logs: listOf('events', 'an event that is not an object', isObject),
  };

  const FINISHED = ['succeeded', 'failed'];

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
   * The ResilientStream options of one job: its stream, and its status and logs endpoints as the
   * client's checkStatus and poll hooks. urls = {events, status, logs}; fetchFn: fetch (or a fake).
   */
  function jobStreamOptions(urls, fetchFn) {
    return {
      url: urls.events,
      events: ['log', 'progress', 'status', 'message'],
      doneEvent: 'done',
      interruptionNote: 'the install continues on the server',
      checkStatus: async ({ timeoutMs, signal }) => {
        const r = await SSEClient.fetchJson(fetchFn, urls.status, { shape: SHAPES.status, timeoutMs, signal });
        if (!r.ok) return r;
        const st = r.body;
        const finished = FINISHED.indexOf(st.state) >= 0;
        const out = { ok: true, lastId: st.last_id == null || st.last_id === '' ? null : String(st.last_id), finished, state: st.state,
          note: 'the install continues on the server' + (st.lines != null ? ' (' + st.lines + ' lines so far)' : '') };
        if (finished) out.final = { state: st.state, exit_code: st.exit_code, lines: st.lines };
        return out;
      },
      poll: async ({ after, limit, timeoutMs, signal }) => {
        const r = await SSEClient.fetchJson(fetchFn, SSEClient.withQuery(urls.logs, { after, limit }),
          { shape: SHAPES.logs, timeoutMs, signal });
        if (!r.ok) return r;
        const b = r.body;
        return { ok: true, done: !!b.done, reset: b.reset === true, state: b.state,
          events: b.events.map((e) => ({ id: e.id, type: e.type, data: SSEClient.parseData(e.data) })) };
      },
    };
  }

  /** The page's banner when the server says the job is over. */
  function doneMessage(info) {
    const f = (info && info.final) || {};
    return 'The server reports the job ' + (f.state || 'finished') + (f.exit_code != null ? ' (exit code ' + f.exit_code + ')' : '') +
      (info && info.how === 'poll' ? ' (by polling)' : '') + '.';
  }

  return { SHAPES, componentsAgree, historyAgrees, jobStreamOptions, doneMessage };
});
