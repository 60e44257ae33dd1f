// Laying out the handshake ladder: both legs' TLS messages on one time axis, browser | mitmlab | origin.
// Each leg's steps are timed from that leg's own TCP start; the legs are placed on a shared clock from the wall-clock
// times we know (connection-open for the client leg, the upstream leg's established time minus its handshake and
// connect times). Pure, tested in test/unit/ui/.

import type { HandshakeStep } from '../../../../server/protocol/tls.js';

export interface LadderArrow {
  /** Which gap the arrow crosses. */
  leg: 'client' | 'upstream';
  /** Direction on screen: towards the right (browser → mitmlab, mitmlab → origin) or left. */
  rightward: boolean;
  label: string;
  length: number;
  /** ms since the earliest step on the shared clock. */
  atMs: number;
  /** ms within the leg, as recorded. */
  legMs: number;
}

export interface LegTimeline {
  steps: HandshakeStep[];
  /** Wall-clock ms of the leg's TCP start, when known. */
  startedAt: number | null;
}

/** Merges both legs into arrows ordered by time (ties keep the client leg first, then recorded order). */
export function ladderArrows(client: LegTimeline | null, upstream: LegTimeline | null, maxSteps = 80): LadderArrow[] {
  const base = Math.min(client?.startedAt ?? Infinity, upstream?.startedAt ?? Infinity);
  const offset = (leg: LegTimeline) => (leg.startedAt !== null && Number.isFinite(base) ? leg.startedAt - base : 0);
  const arrows: Array<LadderArrow & { order: number }> = [];
  let order = 0;
  for (const [name, leg] of [['client', client], ['upstream', upstream]] as const) {
    if (!leg) continue;
    for (const step of leg.steps.slice(0, maxSteps)) {
      arrows.push({
        leg: name,
        // 'in' is towards mitmlab: from the browser (rightward) on the client leg, from the origin (leftward) upstream.
        rightward: name === 'client' ? step.direction === 'in' : step.direction === 'out',
        label: step.label,
        length: step.length,
        atMs: offset(leg) + step.atMs,
        legMs: step.atMs,
        order: order++,
      });
    }
  }
  arrows.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  return arrows.map(({ order: _order, ...arrow }) => arrow);
}

/**
 * An arrow's label. A TLS 1.3 alert is encrypted, so the transcript cannot read it; the TLS error that ended the leg
 * names it (OpenSSL decrypted it).
 */
export function arrowLabel(label: string, legAlert: string | null | undefined): string {
  return label === 'Alert (encrypted)' && legAlert ? `Alert (encrypted): ${legAlert}` : label;
}

/** What the ladder leaves out, per leg: the application-data records after the first each way, counted. */
export function recordsAfterHandshake(legs: ReadonlyArray<{ name: string; appRecords: number; appBytes: number } | null>): Array<{ name: string; appRecords: number; appBytes: number }> {
  return legs.filter((leg): leg is { name: string; appRecords: number; appBytes: number } => leg !== null && leg.appRecords > 1);
}
