import { describe, expect, it } from 'vitest';
import { eventShapeProblem } from '../../../server/protocol/event-shape.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { readEvent } from '../../../server/store/session-reader.js';
import { MemoryBlobSink } from '../../../server/events/blob-sink.js';
import { sampleSession } from '../store/sample-events.js';

const problemOf = (event: ProxyEvent): string | null => eventShapeProblem(event.type, event as unknown as Record<string, unknown>);

describe('event shapes', () => {
  it('accepts every event of a realistic session', () => {
    for (const event of sampleSession(new MemoryBlobSink())) expect(problemOf(event), event.type).toBeNull();
  });

  it('refuses lines of a known type whose fields would break a reader, and says why', () => {
    const lines: Array<[string, string]> = [
      ['{"type":"http-request","at":5,"id":"zz.1","conn":"zz","headers":7,"url":"http://x/","method":"GET","body":null}', 'http-request: headers is not a list of [name, value] pairs'],
      ['{"type":"http-request","at":5,"id":"zz.1","conn":"zz","headers":[["a",1]],"url":"http://x/","method":"GET"}', 'http-request: headers is not a list of [name, value] pairs'],
      ['{"type":"http-request","at":5,"id":"zz.1","conn":"zz","headers":[],"url":12,"method":"GET"}', 'http-request: url is not a string'],
      ['{"type":"tls-keylog","at":5,"conn":"c1","leg":"client","line":7}', 'tls-keylog: line is not a string'],
      ['{"type":"tls-client-hello","at":5,"conn":"c1","leg":"client","hello":null}', 'tls-client-hello: hello is not an object'],
      ['{"type":"http-response","at":5,"id":"c1.1","conn":"c1","status":200,"headers":[],"timings":{"connect":-1}}', 'http-response: timings.send is not a number'],
      ['{"type":"http-response","at":5,"id":"c1.1","conn":"c1","status":200,"headers":[],"body":{"size":1},"timings":{}}', 'http-response: body is not a body reference'],
      ['{"type":"tls-transcript","at":5,"conn":"c1","leg":"client","steps":[1]}', 'tls-transcript: steps is not a list of objects'],
      ['{"type":"connect","conn":"c1","host":"x","port":1}', 'connect without a time'],
      ['[1,2]', 'not an event object'],
      ['{"type":"nope","at":1}', 'an unknown event type'],
    ];
    for (const [line, why] of lines) expect(readEvent(line), line).toBe(why);
  });

  it('lets fields that older sessions lack be absent, but not wrong', () => {
    const old = { type: 'tls-established', at: 1, conn: 'c1', leg: 'client', version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' };
    expect(typeof readEvent(JSON.stringify(old))).toBe('object');
    expect(readEvent(JSON.stringify({ ...old, sharedSigalgs: 'rsa' }))).toBe('tls-established: sharedSigalgs is not a list of strings');
  });
});
