// Child process for the kill -9 durability test: records request/response pairs as fast as it can and reports
// progress on stdout ("<n> <at>") so the parent knows what had been emitted when it killed us.
// Usage: node --import tsx durability-writer.ts DATA_DIR

import { EventBus } from '../../../server/events/bus.js';
import { SessionStore } from '../../../server/store/session-store.js';
import { request, response } from './sample-events.js';

const dataDir = process.argv[2]!;
const store = await SessionStore.open({ dataDir, session: 'durability', onWarning: (m) => process.stderr.write(`${m}\n`) });
const bus = new EventBus();
store.attach(bus);
process.stdout.write(`ready ${store.id}\n`);

let n = 0;
function burst(): void {
  // Bursts of 50 flows, then yield to the event loop so the store's flush timer runs, as it would in the proxy.
  for (let i = 0; i < 50; i++) {
    n++;
    const at = Date.now();
    bus.emit(request(`c${n}.1`, `c${n}`, `https://load.test/${n}`, at));
    bus.emit(response(`c${n}.1`, `c${n}`, at, { body: { sha256: store.blobs.put(Buffer.from(`body ${n}`)), size: 0, wireSize: 0, truncated: false, encoding: null, decoded: false, mimeType: 'text/plain' } }));
  }
  process.stdout.write(`${n} ${Date.now()}\n`);
  setTimeout(burst, 1);
}
burst();
