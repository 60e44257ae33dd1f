// The composition root of `mitmlab start`: lab CA and leaf key, store, event bus, proxy and live view, wired
// together with explicit options. Tests call startMitmlab() in-process; the CLI adds printing and signals.

import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { loadOrCreateCa, type LabCa } from '../certs/ca.js';
import { CertCache } from '../certs/context-cache.js';
import { loadOrCreateLeafKeys, type LeafKeyChoice } from '../certs/leaf-key.js';
import { DEFAULT_TIMEOUTS, type ProxyConfig } from '../core/config.js';
import type { ProxyContext } from '../core/context.js';
import { parseCidr, type OwnEndpoints } from '../core/policy.js';
import { startProxy, type RunningProxy } from '../core/proxy.js';
import { RecentUse } from '../core/recent-use.js';
import { CertMemo } from '../core/cert-memo.js';
import { OriginNames } from '../core/origin-names.js';
import { OriginPool } from '../core/origin-pool.js';
import { UpstreamSessions } from '../core/upstream-sessions.js';
import { EventBus } from '../events/bus.js';
import { TrustStore } from '../tls/verification.js';
import { normalizeHost } from '../certs/hostnames.js';
import { readConnectionEvents } from '../store/history.js';
import { SessionStore } from '../store/session-store.js';
import { applyRetention, deleteSession, sessionIds } from '../store/sessions.js';
import { startHub, type Hub } from '../hub/hub.js';
import { existingToken, loadOrCreateToken } from '../hub/token.js';
import { hubExporter, hubSessions } from './hub-adapters.js';
import { attachKeylogFiles } from './keylog-file.js';
import { splitResolveEntry, type ParsedOptions } from './options.js';
import { Unfinished } from '../core/unfinished.js';

export interface StartOptions {
  listenHost: string;
  listenPort: number;
  uiPort: number;
  ui: boolean;
  dataDir: string;
  caDir: string;
  session: string | null;
  upstreamCa: string[];
  upstreamInsecure: string[];
  passthrough: string[];
  resolve: string[];
  allow: string[];
  keylog: string | null;
  bodyCap: number;
  wsCap: number;
  tlsCapture: number;
  /** Hand idle origin connections from a closed browser connection to the next one (origin-pool.ts). */
  originReuse: boolean;
  maxHeaderSize: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  headersTimeoutMs: number;
  caPermit: string[];
  leafKey: LeafKeyChoice;
  certCache: number;
  flowCap: number;
  retain: number | null;
}

/** StartOptions from the parsed, validated command line. */
export function startOptionsFrom(options: ParsedOptions): StartOptions {
  const s = (name: string) => options[name] as string;
  const n = (name: string) => options[name] as number;
  const l = (name: string) => options[name] as string[];
  return {
    listenHost: s('listen-host'),
    listenPort: n('listen-port'),
    uiPort: n('ui-port'),
    ui: !options['no-ui'],
    dataDir: s('data-dir'),
    caDir: s('ca-dir'),
    session: (options['session'] as string | null) ?? null,
    upstreamCa: l('upstream-ca'),
    upstreamInsecure: l('upstream-insecure'),
    passthrough: l('passthrough'),
    resolve: l('resolve'),
    allow: l('allow'),
    keylog: (options['keylog'] as string | null) ?? null,
    bodyCap: n('body-cap'),
    wsCap: n('ws-cap'),
    tlsCapture: n('tls-capture'),
    originReuse: !options['no-origin-reuse'],
    maxHeaderSize: n('max-header-size'),
    connectTimeoutMs: n('connect-timeout'),
    handshakeTimeoutMs: n('handshake-timeout'),
    idleTimeoutMs: n('idle-timeout'),
    headersTimeoutMs: n('headers-timeout'),
    caPermit: l('ca-permit'),
    leafKey: s('leaf-key') as LeafKeyChoice,
    certCache: n('cert-cache'),
    flowCap: n('flow-cap'),
    retain: (options['retain'] as number | null) ?? null,
  };
}

export interface RunningMitmlab {
  proxyHost: string;
  proxyPort: number;
  proxyUrl: string;
  uiPort: number | null;
  uiUrl: string | null;
  token: string | null;
  /** The live view's browser-session cookie value for this run (null with --no-ui). */
  browserSession: string | null;
  ca: LabCa;
  bus: EventBus;
  ctx: ProxyContext;
  store: SessionStore;
  /** Warnings gathered while starting (non-loopback bind, CA expiry…). */
  warnings: string[];
  close(): Promise<void>;
}

/** A configuration error with a stable code and a message that names the fix. */
export class ConfigError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Seams for tests: replace the system resolver so nothing depends on real DNS. */
export interface StartDeps {
  lookup?: (host: string) => Promise<string>;
  /** Where warnings that happen after start go (disk trouble); before start they are collected in `warnings`. */
  onWarning?: (message: string) => void;
}

/** Starts everything `mitmlab start` runs. */
export async function startMitmlab(options: StartOptions, env: NodeJS.ProcessEnv = process.env, deps: StartDeps = {}): Promise<RunningMitmlab> {
  const warnings: string[] = [];
  const onWarning = deps.onWarning;
  // Warnings after start-up go to the caller's sink when there is one; until then they are collected and returned.
  const warn = (message: string): void => void (onWarning ? onWarning(message) : warnings.push(message));
  const upstreamCaPems = await readTrustFiles(options.upstreamCa, env.NODE_EXTRA_CA_CERTS);
  if (options.keylog) await checkKeylogFile(options.keylog);
  const ca = await loadOrCreateCa({ dir: options.caDir, permit: options.caPermit });
  if (!ca.created && options.caPermit.length > 0) {
    warnings.push(`--ca-permit applies only when a CA is created: the lab CA in ${options.caDir} is used as it is; \`mitmlab ca rotate --ca-permit …\` makes a new, constrained one.`);
  }
  const leafKeys = await loadOrCreateLeafKeys({ dir: options.caDir, choice: options.leafKey });
  warnings.push(...ca.warnings);
  const certs = new CertCache({ ca, leafKey: leafKeys, max: options.certCache });
  const bus = new EventBus();
  const trustPems = [...tls.rootCertificates, ...upstreamCaPems];
  const trust = new TrustStore(trustPems);

  const own: { ports: number[]; localAddresses: string[] } = { ports: [], localAddresses: localAddresses() };
  const config: ProxyConfig = {
    listenHost: options.listenHost,
    listenPort: options.listenPort,
    allow: options.allow.map((cidr) => parseCidr(cidr)!),
    passthrough: options.passthrough,
    upstreamInsecure: options.upstreamInsecure,
    upstreamCaPems,
    resolve: resolveMap(options.resolve),
    bodyCap: options.bodyCap,
    wsCap: options.wsCap,
    tlsCaptureBudget: options.tlsCapture,
    upstreamPoolPerHost: 8,
    maxHeaderSize: options.maxHeaderSize,
    timeouts: {
      ...DEFAULT_TIMEOUTS,
      connectMs: options.connectTimeoutMs,
      handshakeMs: options.handshakeTimeoutMs,
      idleMs: options.idleTimeoutMs,
      headersMs: options.headersTimeoutMs,
    },
  };
  // A start that fails removes the session it created, never one it was continuing (--session NAME).
  const existingSessions = new Set(await sessionIds(options.dataDir).catch(() => []));
  const store = await SessionStore.open({
    dataDir: options.dataDir,
    ...(options.session ? { session: options.session } : {}),
    flowCap: options.flowCap,
    onWarning: warn,
  });
  store.attach(bus);
  // A continued session keeps numbering connections where it stopped, so flow ids never collide in one log.
  let connCounter = store.lastConnNumber;
  const ctx: ProxyContext = {
    config,
    bus,
    blobs: store.blobs,
    certs,
    caDer: ca.certDer,
    caLimits: ca,
    trust,
    certMemo: new CertMemo(trust),
    originNames: new OriginNames(),
    upstreamSessions: new UpstreamSessions(),
    upstreamTls: tls.createSecureContext({ ca: trustPems }),
    destination: {
      resolve: config.resolve,
      own: own as OwnEndpoints,
      connectTimeoutMs: config.timeouts.connectMs,
      ...(deps.lookup ? { lookup: deps.lookup } : {}),
    },
    nextConnId: () => `c${++connCounter}`,
    hiddenValues: [],
    unfinished: new Unfinished(),
    stopping: false,
    // As many idle origin connections per origin as the plain-HTTP pool keeps; all of them bounded too.
    originPool: new OriginPool({ perKey: options.originReuse ? config.upstreamPoolPerHost : 0, total: 256, idleMs: config.timeouts.idleMs }),
    upstreamSockets: new Set(),
    openWebSockets: new Set(),
    recentUse: new RecentUse(),
  };

  const keylogPaths = [options.keylog, env.SSLKEYLOGFILE].filter((p): p is string => Boolean(p));
  const closeKeylog = attachKeylogFiles(bus, keylogPaths, warn);

  // The live view starts first so its port is known to the loop guard before the proxy accepts anything.
  let hub: Hub | null = null;
  let proxy: RunningProxy | null = null;
  const proxyPorts: number[] = []; // filled in once the proxy has its port
  let token: string | null = null;
  const stopAll = async (): Promise<void> => {
    await hub?.close();
    await proxy?.close();
    await bus.flushed();
    await closeKeylog();
    // From here the session log can take no more events: the bus takes none either.
    await bus.close();
    await store.close();
  };

  // With --no-ui the token file still grants the live view of the next start: it is never recorded either.
  const savedToken = options.ui ? null : await existingToken(options.dataDir);
  if (savedToken !== null) ctx.hiddenValues.push(savedToken);
  try {
    if (options.ui) {
      token = await loadOrCreateToken(options.dataDir);
      ctx.hiddenValues.push(token);
      hub = await startLiveView(options, { token, bus, store, ca, proxyPorts });
      ctx.hiddenValues.push(hub.browserSession);
      own.ports.push(hub.port);
    }
    proxy = await startProxy(ctx);
  } catch (error) {
    // A start that fails (a port in use) leaves nothing behind: no server still listening, and no empty session
    // that would become "latest".
    await stopAll();
    if (!existingSessions.has(store.id) && store.meta().eventCount === 0) await deleteSession(options.dataDir, store.id).catch(() => {});
    throw error;
  }
  own.ports.push(proxy.port);
  proxyPorts.push(proxy.port);
  // --retain deletes older sessions only once this one is really recording.
  if (options.retain) {
    const deleted = await applyRetention(options.dataDir, options.retain, { exclude: store.id, onWarning: warn });
    if (deleted.length > 0) warnings.push(`--retain ${options.retain} deleted ${deleted.length} older session(s): ${deleted.join(', ')}`);
  }
  if (!isLoopback(options.listenHost)) {
    warnings.push(
      `the proxy listens on ${options.listenHost}: anyone who can reach it, and is in --allow, sends their traffic through this machine, and everyone's plaintext will be visible here. Clients on other machines cannot reach this machine's own services (127.0.0.1…) through it, except names given with --resolve.`,
    );
  } else if (options.allow.length > 0) {
    // Bound to loopback, only this machine can connect at all: --allow would seem to open the proxy and do nothing.
    warnings.push(`--allow ${options.allow.join(', ')} has no effect while the proxy listens on ${options.listenHost}, which only this machine can reach; add --listen-host 0.0.0.0 (or one of this machine's addresses) for other machines to connect.`);
  }
  const proxyUrl = `http://${hostForUrl(proxy.host)}:${proxy.port}`;
  return {
    proxyHost: proxy.host,
    proxyPort: proxy.port,
    proxyUrl,
    uiPort: hub?.port ?? null,
    uiUrl: hub?.tokenUrl ?? null,
    token,
    browserSession: hub?.browserSession ?? null,
    ca,
    bus,
    ctx,
    warnings,
    store,
    close: stopAll,
  };
}

/** The live view, on loopback always: --listen-host opens the proxy to a classroom, never the live view. */
function startLiveView(
  options: StartOptions,
  parts: { token: string; bus: EventBus; store: SessionStore; ca: LabCa; proxyPorts: number[] },
): Promise<Hub> {
  const { token, bus, store, ca, proxyPorts } = parts;
  const flushed = (): Promise<void> => bus.flushed().then(() => store.flush());
  return startHub({
    host: '127.0.0.1',
    port: options.uiPort,
    token,
    bus,
    blobs: store.blobs,
    staticDir: uiDir(),
    flows: () => store.flows(),
    sessionId: store.id,
    sessions: hubSessions(options.dataDir, store.id, flushed),
    exporter: hubExporter(options.dataDir, store.id, flushed),
    // Asked for a connection the memory does not hold whole: what was just recorded must be on disk first.
    history: { connEvents: (conn) => flushed().then(() => readConnectionEvents(options.dataDir, store.id, conn)) },
    caFiles: {
      pem: ca.certPem,
      der: ca.certDer,
      sha256: ca.sha256Fingerprint,
      spki: ca.spkiSha256Base64,
      subject: ca.subject,
      notAfter: ca.notAfter.toISOString(),
      path: displayPath(ca.certPath),
    },
    proxyPorts,
  });
}

/**
 * --keylog names a file to append to: it must open for appending now, or the secrets of the whole session would be
 * lost behind one warning. (SSLKEYLOGFILE from the environment is only warned about: other programs share it.)
 */
async function checkKeylogFile(file: string): Promise<void> {
  try {
    // Created 0600 like every other file of secrets (the write stream's mode applies only to a file it creates).
    await (await fs.open(file, 'a', 0o600)).close();
  } catch (error) {
    throw new ConfigError('KEYLOG_UNWRITABLE', `--keylog ${file}: cannot append to it (${(error as NodeJS.ErrnoException).code}); create its folder or pick another path`);
  }
}

async function readTrustFiles(files: readonly string[], extra: string | undefined): Promise<string[]> {
  const pems: string[] = [];
  for (const file of [...files, ...(extra ? [extra] : [])]) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError('UPSTREAM_CA_UNREADABLE', `cannot read the CA file ${file} (${(error as NodeJS.ErrnoException).code}): check the path given to --upstream-ca or NODE_EXTRA_CA_CERTS`);
    }
    const found = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!found) throw new ConfigError('UPSTREAM_CA_EMPTY', `${file} holds no PEM certificate: --upstream-ca takes PEM files`);
    // A damaged block would otherwise be dropped without a word, and the root the user meant to trust with it.
    found.forEach((pem, i) => {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new ConfigError('UPSTREAM_CA_BAD', `certificate ${i + 1} of ${found.length} in ${file} cannot be read (${(error as Error).message}): fix or remove it`);
      }
    });
    pems.push(...found.map((pem) => `${pem}\n`));
  }
  return pems;
}

function resolveMap(entries: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) {
    const { host: name, addr: address } = splitResolveEntry(entry)!; // validated by options.ts
    const host = normalizeHost(name);
    if (host.kind === 'dns') map.set(host.name, address);
    else if (host.kind === 'ip') map.set(host.address, address);
  }
  return map;
}

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) for (const info of list ?? []) out.push(info.address);
  return out;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The built live view: dist/ui next to dist/server (or the source tree's dist/ui when run through tsx). */
function uiDir(): string {
  const fromSource = fileURLToPath(new URL('../../dist/ui', import.meta.url));
  const fromDist = fileURLToPath(new URL('../../ui', import.meta.url));
  const built = (dir: string): boolean => existsSync(path.join(dir, 'index.html')) && existsSync(path.join(dir, 'assets'));
  return built(fromDist) ? fromDist : fromSource;
}

/** mitmlab's own ca/README.md (trust and untrust steps), wherever mitmlab is run from. */
export function caGuidePath(): string {
  const fromSource = fileURLToPath(new URL('../../ca/README.md', import.meta.url));
  const fromDist = fileURLToPath(new URL('../../../ca/README.md', import.meta.url));
  return existsSync(fromSource) ? fromSource : fromDist;
}

/** Path of the CA certificate relative to the working directory, for printing. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}
