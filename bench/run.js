#!/usr/bin/env node
// `npm run bench`: the bench is TypeScript (type-checked with the rest); run it through tsx, as bin/mitmlab.js does
// for an unbuilt checkout. mitmlab itself runs from dist/ (built first), never through tsx.

import { pathToFileURL, fileURLToPath } from 'node:url';

const { register } = await import('tsx/esm/api');
register();
const { main } = await import(pathToFileURL(fileURLToPath(new URL('./main.ts', import.meta.url))).href);
process.exitCode = await main(process.argv.slice(2));
