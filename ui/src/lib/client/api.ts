// REST calls to the hub (same origin; the HttpOnly token cookie rides along). No Svelte here.

import type { BodyRef, ProxyEvent } from '../../../../server/protocol/events.js';
import { API, type SelfTestResult, type SelfTestStart, type SessionListing, type WhoAmI } from '../../../../server/protocol/wire.js';

/** Never answer from the HTTP cache: the hub's answers change with every event. (Spread: Node's RequestInit lacks `cache`.) */
export const NO_STORE = { cache: 'no-store' } as const;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, { ...NO_STORE, credentials: 'same-origin', ...init });
  if (!response.ok) throw new ApiError(response.status, (await response.text()).trim() || response.statusText);
  return (await response.json()) as T;
}

/** Every kept event of one client connection (TLS of both legs and every flow on it). */
export function fetchConnEvents(conn: string): Promise<ProxyEvent[]> {
  return getJson<ProxyEvent[]>(API.connEvents(conn));
}

/** Every event of one connection of a recorded session (connection ids restart in every session). */
export function fetchPastConnEvents(session: string, conn: string): Promise<ProxyEvent[]> {
  return getJson<ProxyEvent[]>(API.sessionConnEvents(session, conn));
}

/** The stored bytes of a body (blobs are shared by every session, so past sessions' bodies load the same way). */
export async function fetchBody(body: BodyRef): Promise<Uint8Array> {
  const response = await fetch(API.body(body.sha256), { credentials: 'same-origin' });
  if (!response.ok) throw new ApiError(response.status, (await response.text()).trim());
  return new Uint8Array(await response.arrayBuffer());
}

/** A download link for a body, named after the flow. */
export function bodyDownloadUrl(body: BodyRef, name: string): string {
  return API.body(body.sha256, { type: body.mimeType, name });
}

export function fetchSessions(): Promise<SessionListing[]> {
  return getJson<SessionListing[]>(API.sessions);
}

export function fetchWhoAmI(): Promise<WhoAmI> {
  return getJson<WhoAmI>(API.whoami);
}

export function startSelfTest(): Promise<SelfTestStart> {
  return getJson<SelfTestStart>(API.selfTestStart, { method: 'POST' });
}

export function fetchSelfTest(id: string): Promise<SelfTestResult> {
  return getJson<SelfTestResult>(API.selfTest(id));
}
