// What the orchestrator knows about a peer under test: direct, mitmlab, http-mitm-proxy, mitmdump, tls-relay or http-relay.

import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OriginPki } from '../pki.js';

export const PEER_NAMES = ['direct', 'mitmlab', 'http-mitm-proxy', 'mitmdump', 'tls-relay', 'http-relay'] as const;
export type PeerName = (typeof PEER_NAMES)[number];
/**
 * Peers that run only when named in --peers. They are references, not products: tls-relay is the floor cost of
 * terminating and re-originating TLS on this machine, http-relay the floor of doing that with node:http on both legs,
 * to read the real proxies' figures against.
 */
export const OPT_IN_PEERS: readonly PeerName[] = ['tls-relay', 'http-relay'];
export const DEFAULT_PEERS: readonly PeerName[] = PEER_NAMES.filter((p) => !OPT_IN_PEERS.includes(p));

/** How late the event loop of a Node proxy ran, from bench/probe/loop-delay.mjs. */
export interface LoopDelay {
  /** Longest lateness of a 5 ms timer: includes time the process was not scheduled at all. */
  maxMs: number;
  /** Longest lateness less the time the loop's thread waited for a CPU meanwhile: a block the loop caused itself. */
  busyMaxMs: number;
  /** Longest lateness bounded by the CPU of the whole process (all threads: thread pool, GC, compiler). */
  processBusyMaxMs: number;
  /** What busyMaxMs was bounded by: the loop thread (Linux schedstat), or the process where that is missing. */
  bound: 'loop-thread' | 'process';
  meanMs: number;
  samples: number;
}

/** A peer ready for load. */
export interface RunningPeer {
  name: PeerName;
  /** e.g. "mitmdump 8.1.1 (stream_large_bodies=1m)". */
  label: string;
  /** The proxy's pid, for /proc/<pid>/status; null for direct. */
  pid: number | null;
  /** null for direct. */
  proxyPort: number | null;
  /** The root the client must trust to talk through this peer. */
  caPem: string;
  /** Event-loop lateness since the previous call (or since start); null when this peer has no probe. */
  loopDelay(): Promise<LoopDelay | null>;
  /** Last lines the peer printed, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/** What every peer is started with. */
export interface PeerSetup {
  /** A scratch folder for this peer (CA dir, data dir, confdir). Survives restarts within one bench run. */
  dir: string;
  pki: OriginPki;
  /** Names the proxy must send to 127.0.0.1 (mitmlab --resolve), and their common suffix (for the other peers). */
  names: string[];
  suffix: string;
  /** Preload the event-loop probe (Node peers only). */
  probe: boolean;
  /** Run mitmlab under `node --cpu-prof`, writing profiles here. */
  cpuProfileDir?: string;
  /** mitmlab only: extra `mitmlab start` arguments. */
  extraArgs?: string[];
  /** mitmlab only: node's flags instead of bin/node-flags.js (an empty list: none). */
  nodeArgs?: string[];
  /** mitmdump only: leave stream_large_bodies at its default (bodies buffered whole). */
  buffering?: boolean;
}

/** Keeps the last 16 KiB a child printed (and keeps its pipes drained, so it never blocks on a full pipe). */
export function tailOutput(child: ChildProcess): () => string {
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail.trim();
}

/** Asks the probe in `child` for its histogram (SIGUSR2) and reads the file it writes. */
export async function readLoopProbe(child: ChildProcess, file: string, lastSeq: { value: number }): Promise<LoopDelay | null> {
  if (child.pid === undefined || child.exitCode !== null) return null;
  child.kill('SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await sleep(20);
    try {
      const report = JSON.parse(await readFile(file, 'utf8')) as LoopDelay & { seq: number };
      if (report.seq > lastSeq.value) {
        lastSeq.value = report.seq;
        return { maxMs: report.maxMs, busyMaxMs: report.busyMaxMs, processBusyMaxMs: report.processBusyMaxMs, bound: report.bound, meanMs: report.meanMs, samples: report.samples };
      }
    } catch {
      // Not written yet.
    }
  }
  return null;
}
