// A third-party EventSource client for the integration tests: the `eventsource` npm package
// (pinned in package-lock.json), which follows the WHATWG reconnection rules (retry:, Last-Event-ID).
//
// usage: node eventsource-client.mjs URL COUNT TIMEOUT_MS [TYPE...]
//   Listens for events of the given types (default: message) and writes one JSON line per happening:
//     {"kind":"open"}                                      the stream (re)opened
//     {"kind":"event","type":..,"data":..,"lastEventId":..} an event was dispatched
//     {"kind":"error","message":..,"code":..,"readyState":..} the connection failed or ended
//     {"kind":"timeout","received":N}                       TIMEOUT_MS passed before COUNT events
//   Exits 0 after COUNT events, 3 on timeout, 2 on bad arguments.
import { EventSource } from 'eventsource';

const [url, countArg, timeoutArg, ...types] = process.argv.slice(2);
const want = Number(countArg);
const timeoutMs = Number(timeoutArg);
if (!url || !Number.isInteger(want) || want <= 0 || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  process.stderr.write('usage: node eventsource-client.mjs URL COUNT TIMEOUT_MS [TYPE...]\n');
  process.exit(2);
}

// Synchronous when stdout is a file or a pipe on POSIX, so nothing is lost at process.exit().
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const es = new EventSource(url);
let received = 0;

const timer = setTimeout(() => {
  emit({ kind: 'timeout', received });
  es.close();
  process.exit(3);
}, timeoutMs);

es.onopen = () => emit({ kind: 'open' });
es.onerror = (e) =>
  emit({ kind: 'error', message: e.message ?? '', code: e.code ?? null, readyState: es.readyState });

const onEvent = (ev) => {
  emit({ kind: 'event', type: ev.type, data: ev.data, lastEventId: ev.lastEventId });
  if (++received >= want) {
    clearTimeout(timer);
    es.close();
    process.exit(0);
  }
};
for (const type of types.length > 0 ? types : ['message']) es.addEventListener(type, onEvent);
