// The requests each client connection has in flight (parsed, response not yet closed): past a few, the proxy stops
// reading more from it (HTTP/1.1 pipelining, RFC 9112 §9.3.2), and an error page waits for the answers ahead of it.

import type http from 'node:http';

// Requests in flight per connection before mitmlab stops reading more from it (HTTP/1.1 pipelining, RFC 9112 §9.3.2).
const MAX_IN_FLIGHT = 8;

/** A connection's count of requests in flight: a client connection, or an intercepted one. */
export interface InFlightCounter {
  active: number;
}

/** The pipelining state of every connection of one running proxy. */
export class PipelineHold {
  /** The requests each connection has in flight (parsed, response not yet closed). */
  readonly #inFlight = new WeakMap<InFlightCounter, Set<http.IncomingMessage>>();
  /** An error page that waits for the answers to the requests parsed before the malformed one. */
  readonly #refuseWhenAnswered = new WeakMap<InFlightCounter, () => void>();

  /** The requests this connection has in flight, if it ever had any. */
  requests(counter: InFlightCounter): Set<http.IncomingMessage> | undefined {
    return this.#inFlight.get(counter);
  }

  /** Sends this connection's error page once no complete request is left ahead of it. */
  refuseWhenAnswered(counter: InFlightCounter, refusal: () => void): void {
    this.#refuseWhenAnswered.set(counter, refusal);
  }

  /**
   * Counts a request in flight until its response closes. A client that pipelines many requests behind a slow one
   * would otherwise make the server parse and hold them all (each with its flow and buffers): past a few in flight,
   * stop reading from it until answers go out.
   */
  hold(req: http.IncomingMessage, res: http.ServerResponse, counter: InFlightCounter): void {
    const socket = req.socket;
    counter.active++;
    let requests = this.#inFlight.get(counter);
    if (!requests) this.#inFlight.set(counter, (requests = new Set()));
    requests.add(req);
    if (counter.active > MAX_IN_FLIGHT) socket.pause();
    res.once('close', () => {
      counter.active--;
      requests.delete(req);
      // An error page waiting for its turn goes out once no complete request is left ahead of it (the malformed
      // request, if its own body was the bad part, never gets an answer).
      const refusal = this.#refuseWhenAnswered.get(counter);
      if (refusal && ![...requests].some((pending) => pending.complete)) {
        this.#refuseWhenAnswered.delete(counter);
        return refusal();
      }
      if (counter.active <= MAX_IN_FLIGHT && socket.isPaused()) socket.resume();
    });
  }
}
