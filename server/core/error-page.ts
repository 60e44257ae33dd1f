// mitmlab's own answers (refusals, upstream failures): a status, a reason a student can act on, and a small page.
// Pure: builds bytes; the adapters write them.

import { STATUS_CODES } from 'node:http';

export interface ErrorAnswer {
  status: number;
  /** One-line title, e.g. "Upstream certificate not trusted". */
  title: string;
  /** The sentence that explains what happened and what to do. */
  detail: string;
  /** Extra response header fields (e.g. Sec-WebSocket-Version with a 426). */
  extraHeaders?: Record<string, string>;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The HTML body of an error answer. No scripts, no external resources. */
export function errorPageHtml(answer: ErrorAnswer): string {
  return (
    '<!doctype html><html><head><meta charset="utf-8"><title>mitmlab: ' +
    escapeHtml(answer.title) +
    '</title></head><body style="font-family:sans-serif;max-width:40em;margin:3em auto">' +
    `<h1>${answer.status} ${escapeHtml(answer.title)}</h1><p>${escapeHtml(answer.detail)}</p>` +
    '<p><small>This page was written by mitmlab, the lab proxy, not by the site.</small></p></body></html>\n'
  );
}

/** Headers for an error answer; `X-Mitmlab-Error` lets scripts and tests read the reason without parsing HTML. */
export function errorHeaders(answer: ErrorAnswer, body: string): Record<string, string> {
  return {
    // RFC 9110 §6.6.1: a server with a clock sends Date on its 2xx, 3xx and 4xx answers (and may on 5xx).
    date: new Date().toUTCString(),
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-mitmlab-error': headerSafe(answer.title),
    ...answer.extraHeaders,
  };
}

/** A complete HTTP/1.1 response for raw sockets (CONNECT refusals, parse errors), closing the connection. */
export function rawErrorResponse(answer: ErrorAnswer): string {
  const body = errorPageHtml(answer);
  const headers = errorHeaders(answer, body);
  const reason = STATUS_CODES[answer.status] ?? 'Error';
  let head = `HTTP/1.1 ${answer.status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}connection: close\r\n\r\n${body}`;
}

function headerSafe(text: string): string {
  // Header values are visible ASCII and spaces (RFC 9110 §5.5); anything else is replaced.
  return text.replace(/[^\x20-\x7e]/g, '?');
}
