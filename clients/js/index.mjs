// The ES module entry of sse-resilient-client. The code lives in sse-client.js, which is also the
// script-tag form (no build step): in Node it is a CommonJS module (its exports arrive as the default
// export here); in a browser it runs as a module without exports and registers `globalThis.SSEClient`,
// which is read back here.
import * as loaded from './sse-client.js';

const api = (loaded && loaded.default) || globalThis.SSEClient;
if (!api || typeof api.ResilientStream !== 'function') throw new Error('sse-resilient-client: sse-client.js did not load');

export default api;
export const {
  VERSION, ResilientStream, BufferingDetector, EventDeduper, fullJitterDelay, equalJitterDelay, parseRetryAfter,
  compareIds, withQuery, parseData, seconds, fetchJson, reloadUntil, probeStream, describeInterruption, SHAPES, DEFAULTS,
} = api;
