// curl through the proxy: the client users actually use.

import { run, type RunResult } from './run.js';

export interface CurlOptions {
  proxy: string;
  cacert?: string;
  /** --resolve entries for curl itself (only used without a proxy). */
  extra?: string[];
  timeoutMs?: number;
}

/** Runs curl through the proxy; `-w` prints the status code last, after a newline. */
export async function curl(url: string, options: CurlOptions): Promise<RunResult & { status: number; body: string }> {
  const args = ['-sS', '--max-time', '20', '--proxy', options.proxy, ...(options.cacert ? ['--cacert', options.cacert] : []), ...(options.extra ?? []), '-w', '\n%{http_code}', url];
  const result = await run('curl', args, { timeoutMs: options.timeoutMs ?? 30_000 });
  const cut = result.stdout.lastIndexOf('\n');
  return { ...result, status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
}
