// The message for a data directory that cannot be created. Node's recursive mkdir says ENOENT on a read-only file
// system (seen with a read-only tmpfs on Linux); the probe fs stands in for such a mount, which a test cannot make.

import { describe, expect, it } from 'vitest';
import { mkdirFailure, type MkdirProbe } from '../../../server/store/store-fs.js';

const enoent = Object.assign(new Error("ENOENT: no such file or directory, mkdir '/lab/data/sessions'"), { code: 'ENOENT' });

function probe(existing: string[], refuse: string): MkdirProbe & { made: string[] } {
  const made: string[] = [];
  return {
    made,
    stat: async (path) => {
      if (!existing.includes(path)) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    },
    mkdir: async (path) => {
      made.push(path);
      throw Object.assign(new Error(`${refuse}: ${path}`), { code: refuse });
    },
    rmdir: async () => undefined,
  };
}

describe('mkdirFailure', () => {
  it('names a read-only file system, probing the first missing folder', async () => {
    const fs = probe(['/', '/lab'], 'EROFS');
    expect(await mkdirFailure('/lab/data/sessions', enoent, fs)).toBe('/lab is on a read-only file system (EROFS)');
    expect(fs.made).toEqual(['/lab/data']);
  });

  it('names a missing permission', async () => {
    expect(await mkdirFailure('/lab/data/sessions', enoent, probe(['/', '/lab', '/lab/data'], 'EACCES'))).toBe('no permission to create folders in /lab/data (EACCES)');
  });

  it('keeps any other error as it is', async () => {
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    expect(await mkdirFailure('/lab/data', eacces, probe(['/'], 'EROFS'))).toBe('EACCES: permission denied');
  });
});
