// Adapters from the store (server/store/) to what the live view's hub asks for (server/hub/rest-api.ts).
// They live here, in the composition layer, so neither the store nor the hub imports the other.

import type { HubExporter, HubSessions } from '../hub/rest-api.js';
import { exportFileName, exportStream } from '../store/export.js';
import { readConnectionEvents } from '../store/history.js';
import { isSessionId, StoreError } from '../store/layout.js';
import { listSessions, loadSession, resolveSession, sessionIds } from '../store/sessions.js';

/**
 * The session list for the sessions page, and recorded sessions opened read-only for the live view. `currentId` is
 * the session being recorded; `flush` makes its log complete before it is read.
 */
export function hubSessions(dataDir: string, currentId: string, flush: () => Promise<void> = async () => {}): HubSessions {
  // Only exact ids of existing sessions: never `latest` or a --session name (loadSession would resolve those), and
  // never anything that is not an id's shape (ids come from the browser and become a directory name).
  const known = async (id: string): Promise<boolean> => {
    if (!isSessionId(id) || !(await sessionIds(dataDir)).includes(id)) return false;
    if (id === currentId) await flush();
    return true;
  };
  return {
    list: async () =>
      (await listSessions(dataDir)).map((info) => ({
        id: info.id,
        name: info.name,
        startedAt: info.startedAt,
        endedAt: info.endedAt,
        flows: info.flowCount,
        bytes: info.bytes,
        current: info.id === currentId,
      })),
    events: async (id) => {
      if (!(await known(id))) return null;
      // Damaged lines (a torn tail after kill -9) are skipped by the reader; the CLI's `sessions` reports them.
      const reader = await (await loadSession(dataDir, id)).open();
      return reader.events;
    },
    connEvents: async (id, conn) => ((await known(id)) ? readConnectionEvents(dataDir, id, conn) : null),
  };
}

/** Streaming exports for the REST API. `flush` makes the current session's log complete before it is read. */
export function hubExporter(dataDir: string, currentId: string, flush: () => Promise<void>): HubExporter {
  return {
    open: async (request) => {
      // An id, a --session name or `latest`, as `mitmlab export --session` takes them; the reference is only compared
      // with the recorded ids and names, never used as a path.
      const session = request.session === null ? currentId : await resolveSession(dataDir, request.session).catch(notFoundAsNull);
      if (session === null) return null;
      if (session === currentId) await flush();
      return {
        fileName: exportFileName(session, request.format),
        body: exportStream({
          dataDir,
          session,
          format: request.format,
          ...(request.match ? { filter: request.match } : {}),
        }),
      };
    },
  };
}

function notFoundAsNull(error: unknown): null {
  if (error instanceof StoreError && error.code === 'session-not-found') return null;
  throw error;
}
