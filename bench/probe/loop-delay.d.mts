// Types of the probe's one export (the probe itself is plain JavaScript, preloaded with node --import).

/** The run-queue wait of a schedstat line in nanoseconds, or null when it cannot be trusted. */
export function waitNsFrom(schedstat: string): number | null;
