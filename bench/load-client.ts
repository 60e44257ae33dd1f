// The load client process: one Node process, the same for every peer. It runs the jobs the orchestrator sends over
// IPC, one at a time, and answers with their results.

import { runJob } from './client-jobs.js';
import type { ClientReply, ClientRequest } from './jobs.js';

process.on('message', (message: ClientRequest) => {
  runJob(message.job, (mark) => process.send?.({ id: message.id, mark } satisfies ClientReply)).then(
    (result) => process.send?.({ id: message.id, result } satisfies ClientReply),
    (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies ClientReply),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
