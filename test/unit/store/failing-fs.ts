// A StoreFs that fails on demand, the way a full or read-only disk does: writes raise ENOSPC/EACCES, and the first
// failing write can land half its bytes first (a short write), as write(2) does when space runs out mid-buffer.

import { nodeStoreFs, type StoreFs } from '../../../server/store/store-fs.js';

export interface FailSwitch {
  /** The errno to raise on writes, or null to let them through. */
  code: string | null;
  /** Write half the bytes of the next failing positional write before failing. */
  shortWriteFirst: boolean;
  /** Writes refused so far. */
  refused: number;
}

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: simulated write failure`), { code });
}

export function failingFs(base: StoreFs = nodeStoreFs): { fs: StoreFs; control: FailSwitch } {
  const control: FailSwitch = { code: null, shortWriteFirst: false, refused: 0 };
  const fs: StoreFs = {
    ...base,
    open: async (path, flags, mode) => {
      const handle = await base.open(path, flags, mode);
      return {
        ...handle,
        write: async (buffer, offset, length, position) => {
          if (control.code !== null) {
            control.refused++;
            if (control.shortWriteFirst && length > 1) {
              control.shortWriteFirst = false;
              return handle.write(buffer, offset, Math.floor(length / 2), position);
            }
            throw errnoError(control.code);
          }
          return handle.write(buffer, offset, length, position);
        },
      };
    },
    writeFile: async (path, data, options) => {
      if (control.code !== null) {
        control.refused++;
        throw errnoError(control.code);
      }
      return base.writeFile(path, data, options);
    },
  };
  return { fs, control };
}
