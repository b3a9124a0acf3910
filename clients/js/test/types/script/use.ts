// Type test of the script-tag form: the global SSEClient in a plain script (no import), checked by tsc.
/// <reference path="../../../sse-client.d.ts" />
const rs = new SSEClient.ResilientStream({ url: '/events/clock', share: false, pingIntervalMs: 1000 });
rs.start();
const st: SSEClient.StreamState = rs.state;
void st;
