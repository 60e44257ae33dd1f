/** The V8 flags the mitmlab process runs with (see node-flags.js). */
export declare const NODE_FLAGS: readonly string[];
