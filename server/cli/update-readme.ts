// `npm run docs:cli`: rewrites the CLI reference in README.md from the option table, between its markers.

import { readFileSync, writeFileSync } from 'node:fs';
import { referenceMarkdown } from './options.js';

const START = '<!-- cli-reference:start -->';
const END = '<!-- cli-reference:end -->';
const file = new URL('../../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < start) {
  console.error(`README.md needs ${START} and ${END} markers`);
  process.exit(1);
}
const updated = `${readme.slice(0, start + START.length)}\n${referenceMarkdown()}\n${readme.slice(end)}`;
if (updated === readme) console.log('README.md CLI reference already matches the options');
else {
  writeFileSync(file, updated);
  console.log('README.md CLI reference updated');
}
