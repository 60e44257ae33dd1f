// The jobs the orchestrator hands to the load client, and what comes back. Types only: shared by both processes.

/** Where the client connects: straight to the origin, or through an HTTP proxy with CONNECT. */
export interface Target {
  /** Port of the HTTP proxy on 127.0.0.1, or null to go direct. */
  proxyPort: number | null;
  /** Port of the HTTPS origin on 127.0.0.1. */
  originPort: number;
  /** The one root the client trusts: the origin's root (direct) or the proxy's CA. */
  caPem: string;
}

interface Timed {
  warmupMs: number;
  durationMs: number;
}

/** One measurement, run by the load client. Every job is bounded in time and count. */
export type Job =
  | ({ kind: 'keepalive'; target: Target; host: string; path: string; connections: number } & Timed)
  | ({ kind: 'newconn'; target: Target; host: string; path: string; concurrency: number } & Timed)
  | { kind: 'download'; target: Target; host: string; bytes: number; timeoutMs: number }
  | { kind: 'firstcontact'; target: Target; warmHost: string; hosts: string[]; path: string; timeoutMs: number }
  | ({ kind: 'websocket'; target: Target; host: string; connections: number; size: number } & Timed)
  | { kind: 'flows'; target: Target; host: string; path: string; connections: number; count: number; timeoutMs: number };

export type JobKind = Job['kind'];

/** Completions per second over a fixed window, after a warm-up that is not counted. */
export interface RateResult {
  kind: 'rate';
  count: number;
  seconds: number;
  rate: number;
  errors: number;
  /** Connections reopened because the peer closed one (keepalive only). */
  reconnects: number;
  /** Latency of one unit (request, connection, message) in ms over the window. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  firstError?: string;
}

export interface DownloadResult {
  kind: 'download';
  bytes: number;
  seconds: number;
  /** 10^6 bytes per second. */
  mbPerSec: number;
  complete: boolean;
  error?: string;
}

export interface FirstContactResult {
  kind: 'firstcontact';
  /** Per host: the first contact (new connection + request) and the second one, in ms. */
  samples: Array<{ host: string; firstMs: number; secondMs: number }>;
  errors: number;
  firstError?: string;
}

export interface FlowsResult {
  kind: 'flows';
  count: number;
  seconds: number;
  errors: number;
  complete: boolean;
  firstError?: string;
}

export type JobResult = RateResult | DownloadResult | FirstContactResult | FlowsResult;

/** Messages over the client's IPC channel. */
export type ClientRequest = { id: number; job: Job };
export type ClientReply = { id: number; result: JobResult } | { id: number; error: string } | { id: number; mark: 'start' | 'end' };
