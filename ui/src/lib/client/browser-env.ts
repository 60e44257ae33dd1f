// The transport's environment in a real browser (kept apart so transport.ts runs under Node in unit tests).

import type { TransportEnvironment, WebSocketLike } from './transport.js';

/** The real browser environment. */
export function browserEnvironment(whoamiUrl: string): TransportEnvironment {
  return {
    createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (handle) => window.clearTimeout(handle as number),
    checkAuthorized: async () => {
      const response = await fetch(whoamiUrl, { cache: 'no-store' });
      return response.status !== 401;
    },
  };
}

/** ws:// URL of the hub serving this page. */
export function hubSocketBase(location: Location): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
}
