// Type test of the ES module entry, as an application would write it (checked by tsc, never run).
import SSEClient, { ResilientStream, fetchJson, compareIds, type StateInfo, type PollResult, type StreamState } from 'sse-resilient-client';

const stream = new ResilientStream<{ line: string }>({
  url: '/api/jobs/1/events',
  events: ['log', 'status'],
  share: true,
  checkStatus: async ({ timeoutMs, signal }) => {
    const r = await fetchJson<{ state: string; last_id: string | null }>(fetch, '/api/jobs/1', { timeoutMs, shape: 'object', init: { signal } });
    return r.ok ? { ok: true, lastId: r.body.last_id, finished: r.body.state !== 'running', state: r.body.state } : r;
  },
  poll: async ({ after, limit }): Promise<PollResult> => ({ ok: true, events: [{ id: after ?? '1', type: 'log', data: { line: String(limit) } }] }),
  onEvent: (type: string, data, id: string | null) => { const line: string = data.line; void [type, line, id]; },
  onState: (state: StreamState, message: string, info: StateInfo) => { void [state, message, info.role, info.transport]; },
  onReset: (info) => { void info.reason; },
  onGap: (info) => { void info.skipped; },
});
stream.start('abc-1');
const role: 'idle' | 'solo' | 'leader' | 'follower' = stream.role;
const n: number = compareIds('1', '2') + SSEClient.compareIds(1, 2) + stream.counters.duplicates;
stream.stop();
void [role, n];

// @ts-expect-error: the url is required
new ResilientStream({});
// @ts-expect-error: share is a boolean
new ResilientStream({ url: '/x', share: 'yes' });
