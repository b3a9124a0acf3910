// Type test of the CommonJS form (require), checked by tsc, never run.
import SSEClient = require('sse-resilient-client');

const s = new SSEClient.ResilientStream({ url: '/events/news', onEvent: (type, data, id) => { void [type, data, id]; } });
s.start();
const d: number = SSEClient.fullJitterDelay(3, { baseMs: 100, maxMs: 1000 });
const ra: number | null = SSEClient.parseRetryAfter('5');
void [d, ra];
// @ts-expect-error: no such export
SSEClient.nothing();
