// Parse errors Node's HTTP server reported for a connection ('clientError'), remembered per socket so that an
// exchange cut short by one is recorded as a malformed request (400), not as a client that went away.

const errors = new WeakMap<object, NodeJS.ErrnoException>();

/** Remembers that `socket`'s input failed to parse. */
export function markParseError(socket: object, error: NodeJS.ErrnoException): void {
  errors.set(socket, error);
}

/** The parse error seen on `socket`, if any. */
export function parseErrorOf(socket: object | null | undefined): NodeJS.ErrnoException | undefined {
  return socket ? errors.get(socket) : undefined;
}
