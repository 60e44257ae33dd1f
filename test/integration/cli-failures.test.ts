// The CLI as a user meets it when something goes wrong: a start on a busy port exits (it used to hang with the live
// view still up) and leaves the recorded sessions as they were (it used to apply --retain first, and leave an empty
// "latest"); a missing option value is not filled with the next option; a reader that closes the pipe early gets
// no stack trace.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startCli } from '../helpers/cli-process.js';
import { SessionStore } from '../../server/store/session-store.js';
import { listSessions } from '../../server/store/sessions.js';
import { request, response } from '../unit/store/sample-events.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the real bin to completion: exit code and everything printed. */
function run(args: readonly string[], options: { closeStdout?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, MITMLAB_FROM_SOURCE: '1', SSLKEYLOGFILE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // A reader that left before anything was written, like `| head -0`.
    if (options.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('a start that fails', () => {
  it('on a busy port exits 1, closes what it opened and keeps every recorded session, even with --retain 1', async () => {
    const dataDir = path.join(dir, 'data');
    const caDir = path.join(dir, 'ca');
    // Two real sessions to keep: one with a name and nothing recorded yet, which the failed start below continues.
    for (const args of [[], ['--session', 'lab']]) {
      const first = await startCli(['--data-dir', dataDir, '--ca-dir', caDir, '--listen-port', '0', '--no-ui', ...args]);
      const code = await first.stop();
      expect(code, first.output()).toBe(0);
    }
    const before = await readdir(path.join(dataDir, 'sessions'));
    expect(before).toHaveLength(2);

    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      // The live view starts first and succeeds, then the proxy's port is taken: the live view must close too.
      const proxyBusy = await run(['--data-dir', dataDir, '--ca-dir', caDir, '--listen-port', String(busyPort), '--ui-port', '0', '--retain', '1']);
      expect(proxyBusy.code).toBe(1);
      // The message names the port that is taken and the option that moves it.
      expect(proxyBusy.stderr).toContain(`the proxy's port ${busyPort} is already in use`);
      expect(proxyBusy.stderr).toContain('pick another with --listen-port');
      const uiBusy = await run(['--data-dir', dataDir, '--ca-dir', caDir, '--listen-port', '0', '--ui-port', String(busyPort), '--session', 'lab']);
      expect(uiBusy.code).toBe(1);
      expect(uiBusy.stderr).toContain(`the live view's port ${busyPort} is already in use`);
      expect(uiBusy.stderr).toContain('pick another with --ui-port');
    } finally {
      busy.close();
    }
    expect(await readdir(path.join(dataDir, 'sessions'))).toEqual(before);
    const listed = await run(['sessions', '--data-dir', dataDir]);
    for (const id of before) expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain('recording');
  });

  it('sessions and export with a --data-dir that is a file say which option to check', async () => {
    const file = path.join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    for (const args of [['sessions'], ['export', '--format', 'har']]) {
      const answer = await run([...args, '--data-dir', file]);
      expect(answer.code).toBe(1);
      expect(answer.stderr).toContain(`cannot read sessions in ${file}: ENOTDIR`);
      expect(answer.stderr).toContain('Is --data-dir the folder mitmlab start used?');
    }
  });

  it('a --listen-host that is not an address of this machine names the option', async () => {
    // 127.0.0.1 is this machine's; a documentation address (RFC 5737) is not, so listen fails before anything is sent.
    const answer = await run(['start', '--listen-host', '192.0.2.55', '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'data-host'), '--ca-dir', path.join(dir, 'ca')]);
    expect(answer.code).toBe(1);
    expect(answer.stderr).toMatch(/192\.0\.2\.55 is not an address of this machine .*choose one with --listen-host/);
  });

  it('a --data-dir or --ca-dir that can never be made (under /proc) gets its error at once, where it hung at full CPU', async () => {
    const data = await run(['start', '--listen-port', '0', '--no-ui', '--data-dir', '/proc/mitmlab-data', '--ca-dir', path.join(dir, 'ca')]);
    expect(data.code).toBe(1);
    expect(data.stderr).toMatch(/Cannot write to the data directory \/proc\/mitmlab-data: .*Choose another with --data-dir/);
    const ca = await run(['ca', 'init', '--ca-dir', '/proc/mitmlab-ca']);
    expect(ca.code).toBe(1);
    expect(ca.stderr).toMatch(/Cannot create the CA folder \/proc\/mitmlab-ca: .*--ca-dir/);
  });

  it('the same port for the proxy and the live view is refused before anything starts', async () => {
    const answer = await run(['--listen-port', '18999', '--ui-port', '18999', '--data-dir', path.join(dir, 'never')]);
    expect(answer.code).toBe(2);
    expect(answer.stderr).toContain('--listen-port and --ui-port are both 18999');
    await expect(readdir(path.join(dir, 'never'))).rejects.toThrow();
  });

  it('--keylog: an existing writable file is accepted even in a folder mitmlab cannot write to', async () => {
    const cli = await startCli(['--keylog', '/dev/null', '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'keylog-ok'), '--ca-dir', path.join(dir, 'ca')]);
    expect(await cli.stop()).toBe(0);
  });

  it('--keylog: a file mitmlab creates is 0600, as it holds the secrets of both legs', async () => {
    const file = path.join(dir, 'fresh-keys.log');
    const cli = await startCli(['--keylog', file, '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'keylog-fresh'), '--ca-dir', path.join(dir, 'ca')]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await cli.stop()).toBe(0);
  });

  it('--keylog in a folder that does not exist is refused before anything starts', async () => {
    const file = path.join(dir, 'no-such-folder', 'keys.log');
    const answer = await run(['--keylog', file, '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'keylog-data')]);
    expect(answer.code).toBe(1);
    expect(answer.stderr).toContain(`--keylog ${file}: cannot append to it (ENOENT)`);
    await expect(readdir(path.join(dir, 'keylog-data'))).rejects.toThrow();
  });
});

describe('--upstream-ca with a damaged certificate', () => {
  it('is refused before anything starts, naming the file and the block (it was dropped without a word)', async () => {
    const good = (await readFile(path.join(dir, 'ca-for-upstream', 'mitmlab-ca.pem'), 'utf8').catch(async () => {
      await run(['ca', 'init', '--ca-dir', path.join(dir, 'ca-for-upstream')]);
      return readFile(path.join(dir, 'ca-for-upstream', 'mitmlab-ca.pem'), 'utf8');
    })).trim();
    const lines = good.split('\n');
    const damaged = [lines[0], ...lines.slice(1, -1).map((line) => line.replace(/[A-M]/g, 'Q')), lines.at(-1)].join('\n');
    const file = path.join(dir, 'roots.pem');
    await writeFile(file, `${good}\n${damaged}\n`);
    const answer = await run(['--upstream-ca', file, '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'bad-ca-data')]);
    expect(answer.code).toBe(1);
    expect(answer.stderr).toContain(`certificate 2 of 2 in ${file} cannot be read`);
    await expect(readdir(path.join(dir, 'bad-ca-data'))).rejects.toThrow();
  });
});

describe('an export interrupted', () => {
  it('by Ctrl-C leaves no temporary file beside its output', async () => {
    const dataDir = path.join(dir, 'big-session');
    const store = await SessionStore.open({ dataDir, session: 'big', onWarning: () => {} });
    for (let i = 0; i < 40_000; i++) {
      store.record(request(`c${i}.1`, `c${i}`, `https://a.test/${i}`, i));
      store.record(response(`c${i}.1`, `c${i}`, i + 1));
    }
    await store.close();
    const out = path.join(dir, 'interrupted.har');
    const child = spawn(process.execPath, [BIN, 'export', '--data-dir', dataDir, '--session', 'big', '--format', 'har', '--filter', '~u a.test', '-o', out], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Interrupt it once its temporary file exists, mid-export.
    const temporary = async () => (await readdir(dir)).some((name) => name.startsWith('interrupted.har.tmp-'));
    for (let i = 0; i < 500 && !(await temporary()); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await temporary()).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(await temporary()).toBe(false);
    expect(await readdir(dir)).not.toContain('interrupted.har');
  });
});

describe('usage mistakes get exit code 2 and a reason', () => {
  it.each([
    [['--session', '--quiet', '--listen-port', '0', '--no-ui'], '--session needs a value (NAME), not the option --quiet'],
    [['ca', 'export', '-o', '--format', 'der'], '--out needs a value (FILE), not the option --format'],
    [['export', '--session', '--format', 'jsonl'], '--session needs a value'],
    [['export', '--format', 'har', 'latest'], 'unexpected argument "latest"'],
    [['sessions', 'lab1'], 'unexpected argument "lab1"'],
    [['export', '--format', 'xml'], 'export needs --format har|jsonl|keylog|pcapng, not "xml"'],
    [['ca', 'show', '-o', 'f'], '--format and --out apply to "ca export" only, not "ca show"'],
    [['ca', 'rotate', '--format', 'der'], '--format and --out apply to "ca export" only, not "ca rotate"'],
    [['ca', 'show', '--ca-permit', 'lab.test'], '--ca-permit applies when a CA is made ("ca init" or "ca rotate"), not "ca show"'],
    [['--data-dir=', '--listen-port', '0', '--no-ui'], '--data-dir needs a value (DIR), got an empty one'],
    [['sessions', '--data-dir', ''], '--data-dir needs a value (DIR), got an empty one'],
  ])('mitmlab %j', async (args, message) => {
    // Run in the temp folder: a mistake that slipped through would write there, and the test would still fail.
    const answer = await run(args);
    expect(answer.code).toBe(2);
    expect(answer.stderr).toContain(message);
  });

  it('a value that starts with -- can still be given as --name=VALUE', async () => {
    const answer = await run(['sessions', '--data-dir=--odd']);
    expect(answer.code).toBe(0);
    expect(answer.stdout).toContain('No sessions in --odd');
  });
});

describe('binary output into a pipe', () => {
  it('ca export --format der writes the DER bytes when standard output is not a terminal', async () => {
    const caDir = path.join(dir, 'der-ca');
    expect((await run(['ca', 'init', '--ca-dir', caDir])).code).toBe(0);
    const answer = await new Promise<{ code: number | null; bytes: Buffer }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ca', 'export', '--format', 'der', '--ca-dir', caDir], { cwd: dir, env: { ...process.env, MITMLAB_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.once('exit', (code) => resolve({ code, bytes: Buffer.concat(chunks) }));
    });
    expect(answer.code).toBe(0);
    expect(answer.bytes.equals(await readFile(path.join(caDir, 'mitmlab-ca.cer')))).toBe(true);
  });
});

describe('a reader that closes the pipe', () => {
  it('mitmlab export --format har | (closed) → exit 0, no message', async () => {
    const dataDir = path.join(dir, 'epipe-data');
    const cli = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', dataDir, '--ca-dir', path.join(dir, 'ca')]);
    expect(await cli.stop()).toBe(0);
    const answer = await run(['export', '--format', 'har', '--data-dir', dataDir], { closeStdout: true });
    expect(answer.stderr).toBe('');
    expect(answer.code).toBe(0);
  });

  it('mitmlab start 2>&1 | head -1, then SIGTERM: a clean stop that ends the session, though nothing can be printed', async () => {
    const dataDir = path.join(dir, 'epipe-start');
    const cli = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', dataDir, '--ca-dir', path.join(dir, 'ca')]);
    // The reader left after the banner: both streams' pipes are closed, and the stop's own lines get EPIPE.
    cli.child.stdout!.destroy();
    cli.child.stderr!.destroy();
    expect(await cli.stop('SIGTERM')).toBe(0);
    const [session] = await listSessions(dataDir);
    expect(session).toMatchObject({ state: 'closed' });
    expect(await readdir(path.join(dataDir, 'sessions', session!.id))).not.toContain('lock');
    // A second start that recorded nothing is now the newest: an export of "latest" says where the lab's session is.
    const again = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', dataDir, '--ca-dir', path.join(dir, 'ca')]);
    expect(await again.stop()).toBe(0);
    const answer = await run(['export', '--format', 'jsonl', '--data-dir', dataDir, '-o', path.join(dir, 'latest.jsonl')]);
    expect(answer.code).toBe(0);
    expect(answer.stderr).toMatch(/note: \S+ is the newest session and had nothing to export; `mitmlab sessions` lists the others/);
  });

  it('mitmlab sessions | (closed) → no stack trace, exit 0', async () => {
    const answer = await run(['sessions', '--data-dir', path.join(dir, 'data')], { closeStdout: true });
    expect(answer.stderr).toBe('');
    expect(answer.code).toBe(0);
  });
});

describe('the start banner', () => {
  it('says when the lab CA was just created, names the trust guide by a path that exists, and notes an ignored --ca-permit', async () => {
    const caDir = path.join(dir, 'fresh-ca');
    // Started from a folder that is not mitmlab's own, as after `npm link`.
    const first = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'fresh-data'), '--ca-dir', caDir], { cwd: dir });
    await first.stop();
    expect(first.output()).toMatch(/lab CA .*SHA-256 [0-9A-F:]+ {2}\(new: created just now\)/);
    const guide = /trust the lab CA \(([^)]+)\)/.exec(first.output())![1]!;
    await expect(stat(path.resolve(dir, guide))).resolves.toBeTruthy();
    const again = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'fresh-data'), '--ca-dir', caDir, '--ca-permit', 'lab.test']);
    await again.stop();
    expect(again.output()).not.toContain('(new: created just now)');
    expect(again.output()).toContain('warning: --ca-permit applies only when a CA is created');
  });

  it('a name-constrained lab CA gets a try line with a name it permits, and its limits in words', async () => {
    const cli = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'nc-data'), '--ca-dir', path.join(dir, 'nc-ca'), '--ca-permit', 'lab.test']);
    await cli.stop();
    expect(cli.output()).toMatch(/--cacert \S*mitmlab-ca\.pem https:\/\/lab\.test\//);
    expect(cli.output()).not.toContain('example.com');
    expect(cli.output()).toContain('this lab CA may only vouch for names under lab.test, no IP addresses (its --ca-permit)');
  });

  it('warns that --allow does nothing while the proxy listens on loopback', async () => {
    const cli = await startCli(['--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'allow-data'), '--ca-dir', path.join(dir, 'ca'), '--allow', '10.0.0.0/8']);
    await cli.stop();
    expect(cli.output()).toContain('warning: --allow 10.0.0.0/8 has no effect while the proxy listens on 127.0.0.1');
  });

  it('brackets an IPv6 proxy address in the line a user copies into the browser', async () => {
    const cli = await startCli(['--listen-host', '::1', '--listen-port', '0', '--no-ui', '--data-dir', path.join(dir, 'v6'), '--ca-dir', path.join(dir, 'ca')]);
    try {
      expect(cli.output()).toContain(`browser: set its HTTP and HTTPS proxy to [::1]:${cli.proxyPort} and trust`);
    } finally {
      await cli.stop();
    }
  });
});
