#!/usr/bin/env -S node --initial-old-space-size=64
// The mitmlab command. Runs the compiled server (dist/, built by `npm install` through the prepare script); in a
// checkout that was never built (or with MITMLAB_FROM_SOURCE=1, as the tests do), it runs the TypeScript sources
// through tsx instead.
//
// The first line gives node the V8 flags of bin/node-flags.js (why they matter: there). `env -S` splits them off the
// interpreter's name (GNU coreutils 8.30 and later, the BSDs and macOS).

import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/server/cli/main.js`;
let main;
if (existsSync(built) && process.env.MITMLAB_FROM_SOURCE !== '1') {
  ({ main } = await import(pathToFileURL(built).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(`${root}server/cli/main.ts`).href));
}
process.exitCode = await main(process.argv.slice(2));
