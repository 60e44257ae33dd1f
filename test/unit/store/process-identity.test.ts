// Who holds a lock, against real processes: this one, a gone pid, and a zombie (killed, not yet reaped).

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { identityAlive, ownIdentity, parseIdentity } from '../../../server/store/process-identity.js';

describe('process identity', () => {
  it('knows this process, and not one with its pid from another boot or start', async () => {
    const own = await ownIdentity();
    expect(await identityAlive(own)).toBe(true);
    expect(await identityAlive({ ...own, boot: 'another-boot' })).toBe(false);
    expect(await identityAlive({ ...own, started: '1' })).toBe(false);
    expect(await identityAlive({ pid: 2 ** 22 + 12345 })).toBe(false);
    expect(parseIdentity(JSON.stringify(own))).toEqual(own);
    expect(parseIdentity('{"pid":"x"}')).toBeNull();
  });

  it('does not count a zombie, whose parent never reaps it, as a holder', async () => {
    // The shell starts a short sleep, then becomes a long sleep that never waits for it.
    const shell = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number((await new Promise<Buffer>((resolve) => shell.stdout.once('data', resolve))).toString().trim());
      await expect.poll(async () => (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.[0], { timeout: 3_000 }).toBe('Z');
      expect(await identityAlive({ pid })).toBe(false);
    } finally {
      shell.kill();
    }
  });
});
