// Events of one connection read back from a session's log: what the live view asks for when its in-memory ring no
// longer holds an old connection (the ladder, the hellos, the flows of that connection). One streaming pass; only
// lines mentioning the connection are parsed.

import type { ConnId, ProxyEvent } from '../protocol/events.js';
import { eventsPath } from './layout.js';
import { parseEvent, readLines } from './session-reader.js';

/** Events of connection `conn` in session `id`, in order (at most `limit`); null when the session has no log. */
export async function readConnectionEvents(dataDir: string, id: string, conn: ConnId, limit = 10_000): Promise<ProxyEvent[] | null> {
  const needle = Buffer.from(`"conn":${JSON.stringify(conn)}`);
  const events: ProxyEvent[] = [];
  try {
    for await (const line of readLines(eventsPath(dataDir, id))) {
      if (!line.includes(needle)) continue;
      const event = parseEvent(line);
      if (event && 'conn' in event && event.conn === conn) {
        events.push(event);
        if (events.length >= limit) break;
      }
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return events;
}
