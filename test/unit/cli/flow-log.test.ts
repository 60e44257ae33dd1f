// The terminal's access-log lines: a finished exchange, and one cut short, which says so.

import { describe, expect, it } from 'vitest';
import { attachFlowLog } from '../../../server/cli/flow-log.js';
import { EventBus } from '../../../server/events/bus.js';
import { request, response } from '../store/sample-events.js';

describe('flow log', () => {
  it('prints each exchange once, and says when one was cut short', async () => {
    const bus = new EventBus();
    const lines: string[] = [];
    attachFlowLog(bus, (line) => lines.push(line));
    bus.emit(request('c1.1', 'c1', 'https://a.test/slow', 1));
    bus.emit({ type: 'proxy-error', conn: 'c1', id: 'c1.1', code: 'client-aborted', status: null, message: 'The client disconnected before receiving the whole response.', at: 2 });
    bus.emit(response('c1.1', 'c1', 3));
    bus.emit(request('c1.2', 'c1', 'https://a.test/fine', 4));
    bus.emit(response('c1.2', 'c1', 5));
    await bus.flushed();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^GET https:\/\/a\.test\/slow → 200 .*\(cut short: The client disconnected before receiving the whole response\.\)$/);
    expect(lines[1]).toMatch(/^GET https:\/\/a\.test\/fine → 200 \d+B \d+ms$/);
  });
});
