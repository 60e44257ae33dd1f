// `mitmlab` entry point: argv → validated options → command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage.

import { constraintsInWords, permittedExampleHost } from '../certs/name-constraints.js';
import { runCaCommand } from './ca-command.js';
import { runExportCommand } from './export-command.js';
import { attachFlowLog } from './flow-log.js';
import { helpText, parseArgs, type Command } from './options.js';
import { runSessionsCommand } from './sessions-command.js';
import { caGuidePath, displayPath, startMitmlab, startOptionsFrom, type RunningMitmlab } from './start.js';

// A reader that goes away (`mitmlab sessions | head -1`, `mitmlab start 2>&1 | head`) closes the pipe: Node then
// reports EPIPE as an 'error' that, unhandled, crashes with a stack trace (and a start that crashes while it stops
// leaves its session unended). Lines for a reader that left are dropped instead; the command carries on.
const closed = { stdout: false, stderr: false };
for (const name of ['stdout', 'stderr'] as const) {
  process[name].on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed[name] = true;
  });
}

const io = {
  stdout: (text: string) => void (closed.stdout || process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)),
  stderr: (text: string) => void (closed.stderr || process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)),
  isTTY: Boolean(process.stderr.isTTY),
  // Binary exports (pcapng) stream to stdout as bytes; progress redraws in place on stderr.
  stdoutStream: process.stdout,
  stderrStream: process.stderr,
};

/** Runs the CLI; resolves to the exit code (start resolves only on shutdown). */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    io.stderr(`mitmlab: ${parsed.error}`);
    return 2;
  }
  const { command, sub, options } = parsed;
  if (options['help']) {
    io.stdout(helpText(command as Command));
    return 0;
  }
  // Only `ca` takes a word after the command (its action); a stray word elsewhere is a mistake, not something to ignore.
  const extra = command === 'ca' ? sub[1] : sub[0];
  if (extra !== undefined) {
    io.stderr(`mitmlab: unexpected argument ${JSON.stringify(extra)} (see mitmlab ${command} --help)`);
    return 2;
  }
  switch (command) {
    case 'start':
      return runStart(startOptionsFrom(options), Boolean(options['quiet']));
    case 'ca': {
      const action = sub[0] ?? 'show';
      if (!['init', 'show', 'export', 'rotate'].includes(action)) {
        io.stderr(`mitmlab: unknown ca action ${JSON.stringify(action)} (init, show, export, rotate)`);
        return 2;
      }
      if (action !== 'export' && (options['format'] !== null || options['out'] !== null)) {
        io.stderr(`mitmlab: --format and --out apply to "ca export" only, not "ca ${action}"`);
        return 2;
      }
      // Name constraints are part of the certificate, so they only mean something when one is made.
      if ((action === 'show' || action === 'export') && (options['ca-permit'] as string[]).length > 0) {
        io.stderr(`mitmlab: --ca-permit applies when a CA is made ("ca init" or "ca rotate"), not "ca ${action}"`);
        return 2;
      }
      const format = (options['format'] as string | null) ?? 'pem';
      if (format !== 'pem' && format !== 'der') {
        io.stderr('mitmlab: ca export --format must be pem or der');
        return 2;
      }
      return runCaCommand(
        action as 'init' | 'show' | 'export' | 'rotate',
        { caDir: options['ca-dir'] as string, permit: options['ca-permit'] as string[], format, ...(options['out'] ? { out: options['out'] as string } : {}) },
        io,
      );
    }
    case 'sessions':
      return runSessionsCommand(
        {
          dataDir: options['data-dir'] as string,
          ...(options['delete'] ? { delete: options['delete'] as string } : {}),
          ...(options['retain'] ? { retain: options['retain'] as number } : {}),
        },
        io,
      );
    case 'export': {
      const format = options['format'] as string | null;
      if (!format || !['har', 'jsonl', 'keylog', 'pcapng'].includes(format)) {
        io.stderr(`mitmlab: export needs --format har|jsonl|keylog|pcapng${format ? `, not ${JSON.stringify(format)}` : ''}`);
        return 2;
      }
      return runExportCommand(
        {
          dataDir: options['data-dir'] as string,
          session: (options['session'] as string | null) ?? 'latest',
          format: format as 'har' | 'jsonl' | 'keylog' | 'pcapng',
          ...(options['out'] ? { out: options['out'] as string } : {}),
          ...(options['filter'] ? { filter: options['filter'] as string } : {}),
        },
        io,
      );
    }
  }
}

async function runStart(options: ReturnType<typeof startOptionsFrom>, quiet: boolean): Promise<number> {
  let running;
  try {
    running = await startMitmlab(options, process.env, { onWarning: (message) => io.stderr(`warning: ${message}`) });
  } catch (error) {
    io.stderr(`mitmlab: ${startFailure(error as NodeJS.ErrnoException & { port?: number; address?: string }, options)}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      io.stderr(`mitmlab: ${signal}, shutting down`);
      running.close().then(
        () => resolve(0),
        (error: unknown) => {
          io.stderr(`mitmlab: shutdown failed: ${String(error)}`);
          resolve(1);
        },
      );
    };
    // Before the banner: on Linux a pipe write is synchronous, so whoever reads the banner may signal at once, and a
    // SIGTERM with no listener yet would kill the process without closing the session.
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    printBanner(running, quiet);
  });
}

/** A failed start in words, naming the option that fixes it where one does. */
function startFailure(e: NodeJS.ErrnoException & { port?: number; address?: string }, options: ReturnType<typeof startOptionsFrom>): string {
  // Node's listen errors carry the address and port they tried.
  const which = e.port === options.uiPort && e.port !== 0 ? { name: "the live view's", option: '--ui-port' } : { name: "the proxy's", option: '--listen-port' };
  if (e.code === 'EADDRINUSE') return `${which.name} port ${e.port ?? ''} is already in use (${e.message}); pick another with ${which.option}`;
  if (e.code === 'EADDRNOTAVAIL') return `${e.address ?? options.listenHost} is not an address of this machine (${e.message}); choose one with --listen-host`;
  return `${e.message}${e.code ? ` [${e.code}]` : ''}`;
}

function printBanner(running: RunningMitmlab, quiet: boolean): void {
  const ca = running.ca;
  io.stdout('mitmlab — a man-in-the-middle proxy for the lab. Only intercept traffic you own or are allowed to study.');
  io.stdout(`proxy listening on ${running.proxyUrl}`);
  if (running.uiUrl) io.stdout(`live view ${running.uiUrl}`);
  // A CA made just now (first run, or run from another folder, which has its own ./ca) is trusted by no browser yet.
  io.stdout(`lab CA ${displayPath(ca.certPath)}  SHA-256 ${ca.sha256Fingerprint}${ca.created ? '  (new: created just now)' : ''}`);
  // Bound to every interface, the proxy is reached on this machine through loopback.
  const reachable = running.proxyUrl.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
  // A name-constrained CA cannot vouch for example.com: the example uses a name it permits.
  const tryHost = ca.nameConstraints.length === 0 ? 'example.com' : permittedExampleHost(ca.nameConstraints);
  if (tryHost) io.stdout(`try:   curl --proxy ${reachable} --cacert ${displayPath(ca.certPath)} https://${tryHost}/`);
  if (ca.nameConstraints.length > 0) io.stdout(`this lab CA may only vouch for ${constraintsInWords(ca.nameConstraints)} (its --ca-permit)`);
  io.stdout(`browser: set its HTTP and HTTPS proxy to ${reachable.replace(/^http:\/\//, '')} and trust the lab CA (${displayPath(caGuidePath())})`);
  for (const warning of running.warnings) io.stderr(`warning: ${warning}`);
  if (!quiet) attachFlowLog(running.bus, (line) => io.stdout(line));
}
