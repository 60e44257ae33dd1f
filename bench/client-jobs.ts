// The load client's measurements. Each is bounded: a fixed window after a warm-up, or a fixed count with a deadline.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type tls from 'node:tls';
import WebSocket from 'ws';
import { clientContext, getRequest, Http1Connection, openTls } from './client-transport.js';
import type { DownloadResult, FirstContactResult, FlowsResult, Job, JobResult, RateResult, Target } from './jobs.js';
import { percentile } from './stats.js';

const CONNECT_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** After an error a worker waits a little, so a failing peer does not turn into a busy loop. */
const ERROR_BACKOFF_MS = 20;

/** Told when a timed job's counted window opens and closes, so the orchestrator can read CPU times right then. */
export type WindowMark = (mark: 'start' | 'end') => void;

/** Runs one job. */
export function runJob(job: Job, onMark: WindowMark = () => {}): Promise<JobResult> {
  switch (job.kind) {
    case 'keepalive':
      return keepAlive(job, onMark);
    case 'newconn':
      return newConnections(job, onMark);
    case 'download':
      return download(job);
    case 'firstcontact':
      return firstContact(job);
    case 'websocket':
      return webSocketEcho(job, onMark);
    case 'flows':
      return flows(job);
    default: {
      const never: never = job;
      throw new Error(`unknown job ${JSON.stringify(never)}`);
    }
  }
}

/** Counts completions that land inside [start + warmup, start + warmup + duration]. */
class Window {
  readonly countFrom: number;
  readonly stopAt: number;
  count = 0;
  errors = 0;
  /** Connections opened after the first one of each worker (keep-alive lost). */
  reconnects = 0;
  firstError: string | undefined;
  readonly latencies: number[] = [];

  constructor(warmupMs: number, readonly durationMs: number, onMark: WindowMark) {
    this.countFrom = performance.now() + warmupMs;
    this.stopAt = this.countFrom + durationMs;
    setTimeout(() => onMark('start'), warmupMs);
    setTimeout(() => onMark('end'), warmupMs + durationMs);
  }

  get open(): boolean {
    return performance.now() < this.stopAt;
  }

  done(startedAt: number): void {
    const now = performance.now();
    if (now < this.countFrom || now > this.stopAt) return;
    this.count++;
    this.latencies.push(now - startedAt);
  }

  error(error: unknown): void {
    this.errors++;
    this.firstError ??= error instanceof Error ? error.message : String(error);
  }

  result(): RateResult {
    const seconds = this.durationMs / 1000;
    return {
      kind: 'rate',
      count: this.count,
      seconds,
      rate: this.count / seconds,
      errors: this.errors,
      reconnects: this.reconnects,
      p50Ms: percentile(this.latencies, 50),
      p99Ms: percentile(this.latencies, 99),
      maxMs: this.latencies.reduce((a, b) => Math.max(a, b), 0),
      ...(this.firstError ? { firstError: this.firstError } : {}),
    };
  }
}

async function keepAlive(job: Extract<Job, { kind: 'keepalive' }>, onMark: WindowMark): Promise<RateResult> {
  const context = clientContext(job.target);
  const head = getRequest(job.host, job.target.originPort, job.path, false);
  const window = new Window(job.warmupMs, job.durationMs, onMark);
  const worker = async (): Promise<void> => {
    let conn: Http1Connection | null = null;
    let opened = 0;
    while (window.open) {
      try {
        if (!conn) {
          if (opened++ > 0) window.reconnects++;
          conn = new Http1Connection(await openTls(job.target, job.host, context, CONNECT_TIMEOUT_MS));
        }
        const started = performance.now();
        const response = await conn.request(head, REQUEST_TIMEOUT_MS);
        if (response.status !== 200) window.error(new Error(`status ${response.status}`));
        else window.done(started);
        if (response.close) {
          conn.destroy();
          conn = null;
        }
      } catch (error) {
        window.error(error);
        conn?.destroy();
        conn = null;
        await sleep(ERROR_BACKOFF_MS);
      }
    }
    conn?.destroy();
  };
  await Promise.all(Array.from({ length: job.connections }, worker));
  return window.result();
}

/** One new connection (CONNECT + TLS, or TLS direct), one request with Connection: close, then close. */
async function contact(target: Target, host: string, path: string, context: tls.SecureContext): Promise<void> {
  const conn = new Http1Connection(await openTls(target, host, context, CONNECT_TIMEOUT_MS));
  try {
    const response = await conn.request(getRequest(host, target.originPort, path, true), REQUEST_TIMEOUT_MS);
    if (response.status !== 200) throw new Error(`status ${response.status}`);
  } finally {
    conn.destroy();
  }
}

async function newConnections(job: Extract<Job, { kind: 'newconn' }>, onMark: WindowMark): Promise<RateResult> {
  const context = clientContext(job.target);
  const window = new Window(job.warmupMs, job.durationMs, onMark);
  const worker = async (): Promise<void> => {
    while (window.open) {
      const started = performance.now();
      try {
        await contact(job.target, job.host, job.path, context);
        window.done(started);
      } catch (error) {
        window.error(error);
        await sleep(ERROR_BACKOFF_MS);
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  return window.result();
}

async function download(job: Extract<Job, { kind: 'download' }>): Promise<DownloadResult> {
  const context = clientContext(job.target);
  const conn = new Http1Connection(await openTls(job.target, job.host, context, CONNECT_TIMEOUT_MS));
  const started = performance.now();
  try {
    const response = await conn.request(getRequest(job.host, job.target.originPort, `/bytes?n=${job.bytes}`, true), job.timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const complete = response.status === 200 && response.bodyBytes === job.bytes;
    return { kind: 'download', bytes: response.bodyBytes, seconds, mbPerSec: response.bodyBytes / 1e6 / seconds, complete, ...(complete ? {} : { error: `status ${response.status}, ${response.bodyBytes} bytes` }) };
  } catch (error) {
    // A peer that buffers the whole body may not finish within the deadline: report how far it got.
    const seconds = (performance.now() - started) / 1000;
    const bytes = conn.received;
    return { kind: 'download', bytes, seconds, mbPerSec: bytes / 1e6 / seconds, complete: false, error: (error as Error).message };
  } finally {
    conn.destroy();
  }
}

async function firstContact(job: Extract<Job, { kind: 'firstcontact' }>): Promise<FirstContactResult> {
  const context = clientContext(job.target);
  const deadline = performance.now() + job.timeoutMs;
  // Warm the proxy's paths (and the client's) on a known host first, so the first new host is not also the first flow.
  for (let i = 0; i < 3; i++) await contact(job.target, job.warmHost, job.path, context);
  const samples: FirstContactResult['samples'] = [];
  let errors = 0;
  let firstError: string | undefined;
  // One host at a time: the extra time is the first contact minus the second one to the same host, so what the
  // proxy does once per host (certificate, upstream context, caches) shows up and the per-connection cost cancels.
  for (const host of job.hosts) {
    if (performance.now() > deadline) break;
    try {
      let t = performance.now();
      await contact(job.target, host, job.path, context);
      const firstMs = performance.now() - t;
      t = performance.now();
      await contact(job.target, host, job.path, context);
      samples.push({ host, firstMs, secondMs: performance.now() - t });
    } catch (error) {
      errors++;
      firstError ??= (error as Error).message;
    }
  }
  return { kind: 'firstcontact', samples, errors, ...(firstError ? { firstError } : {}) };
}

async function webSocketEcho(job: Extract<Job, { kind: 'websocket' }>, onMark: WindowMark): Promise<RateResult> {
  const context = clientContext(job.target);
  const payload = Buffer.alloc(job.size, 0x77);
  const url = `wss://${job.host}:${job.target.originPort}/ws`;
  const sockets = await Promise.all(Array.from({ length: job.connections }, async () => {
    const secure = await openTls(job.target, job.host, context, CONNECT_TIMEOUT_MS);
    const ws = new WebSocket(url, { createConnection: () => secure, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      // A peer that never answers the upgrade must not hang the bench.
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no answer to the WebSocket upgrade within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade answered ${res.statusCode}`));
      });
    });
    return ws;
  }));
  const window = new Window(job.warmupMs, job.durationMs, onMark);
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    // One message in flight per connection: a closed loop, like a chat client waiting for its echo.
    let sentAt = performance.now();
    const timer = setTimeout(() => finish(), job.warmupMs + job.durationMs + REQUEST_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    ws.on('message', () => {
      window.done(sentAt);
      if (!window.open) return finish();
      sentAt = performance.now();
      ws.send(payload);
    });
    ws.on('error', (error) => {
      window.error(error);
      finish();
    });
    ws.on('close', finish);
    ws.send(payload);
  })));
  for (const ws of sockets) ws.terminate();
  return window.result();
}

async function flows(job: Extract<Job, { kind: 'flows' }>): Promise<FlowsResult> {
  const context = clientContext(job.target);
  const head = getRequest(job.host, job.target.originPort, job.path, false);
  const started = performance.now();
  const deadline = started + job.timeoutMs;
  let issued = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    let conn: Http1Connection | null = null;
    while (issued < job.count && performance.now() < deadline) {
      issued++;
      try {
        conn ??= new Http1Connection(await openTls(job.target, job.host, context, CONNECT_TIMEOUT_MS));
        const response = await conn.request(head, REQUEST_TIMEOUT_MS);
        if (response.status === 200) completed++;
        else errors++;
        if (response.close) {
          conn.destroy();
          conn = null;
        }
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
        conn?.destroy();
        conn = null;
        await sleep(ERROR_BACKOFF_MS);
      }
    }
    conn?.destroy();
  };
  await Promise.all(Array.from({ length: job.connections }, worker));
  return { kind: 'flows', count: completed, seconds: (performance.now() - started) / 1000, errors, complete: completed === job.count, ...(firstError ? { firstError } : {}) };
}
