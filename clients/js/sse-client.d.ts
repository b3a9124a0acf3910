// Type declarations of sse-resilient-client (sse-client.js): CommonJS (`require`), and the global
// `SSEClient` of the script-tag form (`/// <reference types="sse-resilient-client" />` in a script).
// The ES module entry (index.mjs) has the same API: see index.d.mts.

export = SSEClient;
export as namespace SSEClient;

declare namespace SSEClient {
  /** The states a stream goes through (onState); `done` and `failed` are final. */
  type StreamState = 'idle' | 'connecting' | 'open' | 'interrupted' | 'retrying' | 'polling' | 'buffering' | 'done' | 'failed';
  /** solo: its own connection; leader: holds the connection shared by the tabs; follower: reads the leader's. */
  type Role = 'idle' | 'solo' | 'leader' | 'follower';
  type Transport = 'stream' | 'polling';

  interface Backoff {
    /** First cap of the full-jitter delay (ms); doubled at each attempt. Default 500. */
    baseMs?: number;
    /** Largest cap (ms). Default 8000. */
    maxMs?: number;
    /** A server's Retry-After is honoured up to this (ms). Default 300000. */
    maxRetryAfterMs?: number;
  }

  /** A failed request (fetchJson's shape; also what hooks answer on failure). */
  interface Failure {
    ok: false;
    kind?: 'http' | 'truncated' | 'shape' | 'timeout' | 'network';
    httpStatus?: number;
    error: string;
    retryAfterMs?: number;
    body?: unknown;
  }

  /** What the checkStatus hook answers when the server answered. */
  interface StatusAnswer {
    ok: true;
    /** The newest event id the server has: ahead of ours while the stream is silent = buffered. */
    lastId?: string | null;
    /** The stream will not continue (e.g. the job ended): the rest comes by polling or a resume. */
    finished?: boolean;
    /** The server's state, shown in messages. */
    state?: string;
    /** The server's word for the final state, when finished (handed to onState('done') as info.final). */
    final?: FinalState;
    /** Said after "The stream was interrupted, ...", e.g. "the install continues on the server". */
    note?: string;
  }
  type StatusResult = StatusAnswer | Failure;

  interface PolledEvent {
    id?: string | number | null;
    type?: string;
    data?: unknown;
  }
  /** What the poll hook answers: the events after `after`, at most `limit`. */
  interface PollAnswer {
    ok: true;
    events: PolledEvent[];
    /** No more events will come (the last page when fewer than `limit`). */
    done?: boolean;
    /** These events do not continue from `after`: they are the whole history from its start. */
    reset?: boolean;
    /** The server's word for the final state, when done. */
    final?: FinalState;
    state?: string;
  }
  type PollResult = PollAnswer | Failure;

  interface HookContext {
    /** The last event id this tab has (null: none). */
    lastId: string | null;
    timeoutMs: number;
    /** Aborted when the client stops waiting (after timeoutMs). */
    signal?: AbortSignal;
  }
  interface PollContext {
    after: string | null;
    limit: number;
    timeoutMs: number;
    signal?: AbortSignal;
  }

  interface FinalState {
    state?: string;
    exit_code?: number | null;
    httpStatus?: number;
    [key: string]: unknown;
  }

  interface StateInfo {
    transport: Transport;
    lastId: string | null;
    role: Role;
    /** A status check is running (the message is transient). */
    probing?: boolean;
    httpStatus?: number | null;
    delayMs?: number;
    retryAfterMs?: number | null;
    silentMs?: number;
    server?: StatusAnswer | null;
    /** On `done`: the server's word. */
    final?: FinalState;
    jobState?: string;
    how?: 'event' | 'poll' | '204';
    /** The state comes from the tab that holds the shared connection. */
    shared?: boolean;
    reason?: string;
    reset?: ResetInfo;
    [key: string]: unknown;
  }

  /** `event: reset` data: {"reason":"unknown-id"|"too-old","oldest":"<id>","lost":N}. */
  interface ResetInfo {
    reason?: string;
    oldest?: string;
    lost?: number;
    [key: string]: unknown;
  }
  /** `event: gap` data: {"skipped":N,"first":"<id>","last":"<id>"}. */
  interface GapInfo {
    skipped?: number;
    first?: string;
    last?: string;
    [key: string]: unknown;
  }

  interface EventSourceLike {
    onopen: ((ev: unknown) => unknown) | null;
    onerror: ((ev: unknown) => unknown) | null;
    addEventListener(type: string, listener: (ev: { data: string; lastEventId: string }) => unknown): void;
    close(): void;
  }
  type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;
  type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
  interface LockManagerLike {
    request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown> | unknown): Promise<unknown>;
  }
  type BroadcastChannelConstructor = new (name: string) => {
    onmessage: ((ev: { data: unknown }) => unknown) | null;
    postMessage(message: unknown): void;
    close(): void;
  };

  interface ResilientStreamOptions<T = unknown> {
    /** The stream URL (relative to the page is fine). */
    url: string;
    /** Event types delivered to onEvent (EventSource needs their names). Default ['message']. */
    events?: string[];
    /** An event of this type is delivered, then ends the stream. Default 'done'; null: never. */
    doneEvent?: string | null;
    /** The query parameter that resumes (this library's servers: lastEventId). null: none. */
    lastEventIdParam?: string | null;
    withCredentials?: boolean;
    /** Turns the data text into what onEvent gets. Default: JSON when it parses, else the text. */
    parse?: ((text: string) => T) | null;
    /** The server's keepalive interval (ms). Default 15000. */
    pingIntervalMs?: number;
    /** The server pings with `event: ping` (true, default) or with comments (invisible: no watchdog). */
    pingEvents?: boolean;
    /** Silence allowed before the watchdog acts. Default 2 * pingIntervalMs + 250. */
    pingTimeoutMs?: number | null;
    /** The watchdog's status check may take this long (ms). Default 2000. */
    statusTimeoutMs?: number;
    /** Stream failures in a row (while the server answers) before polling (with `poll`). Default 3. */
    maxStreamFailures?: number;
    backoff?: Backoff;
    pollIntervalMs?: number;
    pollLimit?: number;
    /** While polling, try streaming again after this (doubles up to 60 s). Default 8000. */
    streamRetryMs?: number;
    watchdogMs?: number;
    requestTimeoutMs?: number;
    /** After an error, GET the stream URL to learn its status and Retry-After. Default true. */
    probe?: boolean;
    /** Appended to interruption messages, e.g. 'the install continues on the server'. */
    interruptionNote?: string;
    /** The application's status endpoint, asked after an error and by the watchdog. */
    checkStatus?: ((ctx: HookContext) => Promise<StatusResult> | StatusResult) | null;
    /** The application's polling endpoint: the fallback when the stream does not work. */
    poll?: ((ctx: PollContext) => Promise<PollResult> | PollResult) | null;
    /** Share one connection between the tabs reading this URL (default true; false: opt out). */
    share?: boolean;
    /** Tabs with the same key share (default: the absolute URL and the event types). */
    shareKey?: string | null;
    /**
     * A tab that joins a shared stream with no last id: true (default) - it gets the history since the
     * stream's start, as a fresh connection to a replaying endpoint would (from the leader's buffer,
     * or on a connection of its own when the buffer no longer reaches back); false - only what is
     * live from now on, as a fresh connection to an sse-hub topic gets.
     */
    joinHistory?: boolean;
    /** Events each tab keeps for a tab that missed some (leader change). Default 1000. */
    replayLimit?: number;
    /** A leader that says nothing on the channel this long (its tab frozen or hung) loses the lock
     *  to a follower. Default max(65 s, 2 x the silence allowance + statusTimeoutMs + backoff.maxMs). */
    leaderTimeoutMs?: number | null;
    /** Ids remembered for deduplication. Default 10000. */
    dedupeLimit?: number;
    /** Every event once, in order (pings, reset and gap excluded). */
    onEvent?: ((type: string, data: T, id: string | null) => void) | null;
    onState?: ((state: StreamState, message: string, info: StateInfo) => void) | null;
    /** Forget every event shown: the server's history follows from its start. */
    onReset?: ((info: ResetInfo) => void) | null;
    /** The server skipped events for this (slow) client. */
    onGap?: ((info: GapInfo) => void) | null;
    // For tests and unusual environments:
    EventSource?: EventSourceConstructor | null;
    fetch?: FetchLike | null;
    now?: () => number;
    random?: () => number;
    locks?: LockManagerLike | null;
    BroadcastChannel?: BroadcastChannelConstructor | null;
  }

  interface Counters {
    streams: number;
    streamErrors: number;
    polls: number;
    pings: number;
    events: number;
    duplicates: number;
    resets: number;
    gaps: number;
    stalls: number;
    leaderships: number;
    replays: number;
  }

  class ResilientStream<T = unknown> {
    constructor(options: ResilientStreamOptions<T>);
    /** Starts (resuming after `fromId` when given). Returns this. */
    start(fromId?: string | null): this;
    /** Stops for good; no callback fires afterwards. A shared connection passes to another tab. */
    stop(): void;
    readonly lastId: string | null;
    /** Whether this tab takes part in a shared connection (leader or follower). */
    readonly sharing: boolean;
    state: StreamState;
    transport: Transport;
    role: Role;
    tabId: string;
    shareKey: string | null;
    lastPingAt: number | null;
    lastEventAt: number | null;
    finished: boolean;
    final: FinalState | null;
    counters: Counters;
  }

  class EventDeduper {
    constructor(limit?: number);
    accept(id: string | number | null | undefined): boolean;
    has(id: string | number | null | undefined): boolean;
    lastId: string | null;
    duplicates: number;
    readonly size: number;
    readonly limit: number;
  }

  interface BufferingDetectorOptions {
    pingIntervalMs?: number;
    pingEvents?: boolean;
    silenceFactor?: number;
    slackMs?: number;
    burstCount?: number;
    burstWindowFactor?: number;
    silenceLimitMs?: number | null;
  }
  class BufferingDetector {
    constructor(options?: BufferingDetectorOptions);
    readonly silenceLimitMs: number;
    pingIntervalMs: number;
    lastActivity: number;
    lastPingAt: number | null;
    reset(now: number): void;
    activity(now: number): void;
    silentFor(now: number): number;
    overdue(now: number): boolean;
    notePing(now: number): 'ok' | 'burst';
    classify(s: { overdue: boolean; serverAhead: boolean }): 'ok' | 'buffered' | 'silent';
  }

  type Shape = 'object' | 'any' | ((body: unknown) => string | null);
  interface FetchJsonOptions {
    shape?: Shape;
    timeoutMs?: number;
    init?: RequestInit;
    signal?: AbortSignal;
  }
  type FetchJsonResult<B = any> = { ok: true; httpStatus: number; body: B } | Failure;

  interface ReloadUntilOptions<B = any> extends FetchJsonOptions {
    agrees?: ((body: B) => boolean) | null;
    maxAttempts?: number;
    backoff?: Backoff;
    random?: () => number;
    cancelled?: () => boolean;
    onAttempt?: (result: FetchJsonResult<B>, attempt: { attempt: number; maxAttempts: number; agreed: boolean; willRetry: boolean; delayMs: number }) => void;
  }
  interface ReloadUntilResult<B = any> {
    ok: boolean;
    body?: B;
    attempts: number;
    cancelled?: boolean;
    last: FetchJsonResult<B>;
  }

  type ProbeResult =
    | { ok: true; httpStatus: number; retryAfterMs: number | null; contentType: string }
    | { ok: false; kind: 'timeout' | 'network'; error: string };

  interface Interruption {
    kind: 'running' | 'finished' | 'unreachable' | 'gone' | 'stopped' | 'refused';
    message: string;
    httpStatus?: number;
  }

  const VERSION: string;
  const SHAPES: { [name: string]: (body: unknown) => string | null };
  const DEFAULTS: Readonly<Omit<ResilientStreamOptions, 'url'> & { url: null }>;
  function fullJitterDelay(attempt: number, backoff?: Backoff, random?: () => number): number;
  function equalJitterDelay(attempt: number, backoff?: Backoff, random?: () => number): number;
  function parseRetryAfter(value: string | null | undefined, now?: number): number | null;
  function compareIds(a: string | number | null | undefined, b: string | number | null | undefined): number;
  function withQuery(url: string, params: { [key: string]: string | number | null | undefined }): string;
  function parseData(text: string): unknown;
  function seconds(ms: number): string;
  function fetchJson<B = any>(fetchFn: FetchLike | null | undefined, url: string, options?: FetchJsonOptions): Promise<FetchJsonResult<B>>;
  function reloadUntil<B = any>(fetchFn: FetchLike | null | undefined, url: string, options?: ReloadUntilOptions<B>): Promise<ReloadUntilResult<B>>;
  function probeStream(fetchFn: FetchLike | null | undefined, url: string, options?: { timeoutMs?: number; withCredentials?: boolean; now?: number }): Promise<ProbeResult>;
  function describeInterruption(status: StatusResult | null, probe: ProbeResult | null, note?: string): Interruption;
}
