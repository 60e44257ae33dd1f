// Adapters from the store (server/store/) to what the live view's hub asks for (server/hub/rest-api.ts).
// They live here, in the composition layer, so neither the store nor the hub imports the other.

import type { HubExporter, HubSessions } from '../hub/rest-api.js';
import { exportFileName, exportStream } from '../store/export.js';
import { listSessions } from '../store/sessions.js';

/** The session list for the sessions page; `currentId` is the session being recorded. */
export function hubSessions(dataDir: string, currentId: string): HubSessions {
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
  };
}

/** Streaming exports for the REST API. `flush` makes the current session's log complete before it is read. */
export function hubExporter(dataDir: string, currentId: string, flush: () => Promise<void>): HubExporter {
  return {
    open: async (request) => {
      const session = request.session ?? currentId;
      const known = (await listSessions(dataDir)).some((info) => info.id === session);
      if (!known) return null;
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
