// Type declarations of the ES module entry (index.mjs): the same API as sse-client.d.ts, as named
// exports and as the default export.
import SSEClient from './sse-client.js';

export default SSEClient;

export type StreamState = SSEClient.StreamState;
export type Role = SSEClient.Role;
export type Transport = SSEClient.Transport;
export type Backoff = SSEClient.Backoff;
export type Failure = SSEClient.Failure;
export type StatusAnswer = SSEClient.StatusAnswer;
export type StatusResult = SSEClient.StatusResult;
export type PolledEvent = SSEClient.PolledEvent;
export type PollAnswer = SSEClient.PollAnswer;
export type PollResult = SSEClient.PollResult;
export type HookContext = SSEClient.HookContext;
export type PollContext = SSEClient.PollContext;
export type FinalState = SSEClient.FinalState;
export type StateInfo = SSEClient.StateInfo;
export type ResetInfo = SSEClient.ResetInfo;
export type GapInfo = SSEClient.GapInfo;
export type ResilientStreamOptions<T = unknown> = SSEClient.ResilientStreamOptions<T>;
export type Counters = SSEClient.Counters;
export type BufferingDetectorOptions = SSEClient.BufferingDetectorOptions;
export type FetchJsonOptions = SSEClient.FetchJsonOptions;
export type FetchJsonResult<B = any> = SSEClient.FetchJsonResult<B>;
export type ReloadUntilOptions<B = any> = SSEClient.ReloadUntilOptions<B>;
export type ReloadUntilResult<B = any> = SSEClient.ReloadUntilResult<B>;
export type ProbeResult = SSEClient.ProbeResult;
export type Interruption = SSEClient.Interruption;

export type ResilientStream<T = unknown> = SSEClient.ResilientStream<T>;
export declare const ResilientStream: typeof SSEClient.ResilientStream;
export type EventDeduper = SSEClient.EventDeduper;
export declare const EventDeduper: typeof SSEClient.EventDeduper;
export type BufferingDetector = SSEClient.BufferingDetector;
export declare const BufferingDetector: typeof SSEClient.BufferingDetector;
export declare const VERSION: typeof SSEClient.VERSION;
export declare const SHAPES: typeof SSEClient.SHAPES;
export declare const DEFAULTS: typeof SSEClient.DEFAULTS;
export declare const fullJitterDelay: typeof SSEClient.fullJitterDelay;
export declare const equalJitterDelay: typeof SSEClient.equalJitterDelay;
export declare const parseRetryAfter: typeof SSEClient.parseRetryAfter;
export declare const compareIds: typeof SSEClient.compareIds;
export declare const withQuery: typeof SSEClient.withQuery;
export declare const parseData: typeof SSEClient.parseData;
export declare const seconds: typeof SSEClient.seconds;
export declare const fetchJson: typeof SSEClient.fetchJson;
export declare const reloadUntil: typeof SSEClient.reloadUntil;
export declare const probeStream: typeof SSEClient.probeStream;
export declare const describeInterruption: typeof SSEClient.describeInterruption;
