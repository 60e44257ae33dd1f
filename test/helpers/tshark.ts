// tshark as an independent oracle: live loopback captures, and reading fields out of capture files.

import { spawn, type ChildProcess } from 'node:child_process';
import { run } from './run.js';

export interface LiveCapture {
  file: string;
  /** Stops the capture and waits until the file is complete. */
  stop(): Promise<void>;
}

/** Captures loopback traffic on the given TCP ports into `file` (pcapng). Resolves once tshark is capturing. */
export async function captureLoopback(file: string, ports: number[]): Promise<LiveCapture> {
  const filter = ports.map((port) => `tcp port ${port}`).join(' or ');
  const child: ChildProcess = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start capturing: ${stderr}`)), 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('Capturing on')) {
        clearTimeout(timer);
        // tshark announces the capture slightly before dumpcap's socket sees packets: give it a moment.
        setTimeout(resolve, 1_000);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tshark exited with ${code}: ${stderr}`));
    });
  });
  return {
    file,
    stop: async () => {
      // Give the kernel a moment to hand over the last packets before stopping.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** Runs `tshark -r file` with extra arguments and returns stdout lines (non-empty). */
export async function tsharkFields(file: string, args: readonly string[]): Promise<string[]> {
  const result = await run('tshark', ['-r', file, ...args], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`tshark failed (${result.code}): ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line.trim() !== '');
}
