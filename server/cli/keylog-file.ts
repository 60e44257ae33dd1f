// --keylog FILE and SSLKEYLOGFILE: append NSS key log lines for both legs as they happen, so Wireshark can decrypt
// a live capture. The file holds session secrets: it is created 0600.

import fs from 'node:fs';
import type { EventBus } from '../events/bus.js';

/** Subscribes a writer per path; returns a function that flushes and closes them. */
export function attachKeylogFiles(bus: EventBus, paths: readonly string[], warn: (message: string) => void): () => Promise<void> {
  const streams = [...new Set(paths)].map((path) => {
    const stream = fs.createWriteStream(path, { flags: 'a', mode: 0o600 });
    stream.on('error', (error) => warn(`cannot write the key log ${path}: ${error.message}`));
    return stream;
  });
  if (streams.length === 0) return async () => {};
  const unsubscribe = bus.subscribe((event) => {
    if (event.type !== 'tls-keylog') return;
    for (const stream of streams) stream.write(`${event.line}\n`);
  });
  return async () => {
    unsubscribe();
    await Promise.all(streams.map((stream) => new Promise<void>((resolve) => stream.end(() => resolve()))));
  };
}
