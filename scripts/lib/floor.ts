// The native floor of bench:probes: scripts/floor/probe-floor.c compiled at bench time with the
// machine's C compiler (`cc`, or $CC) into a temporary directory, and run against a target. The C
// loop measures its own CPU time (getrusage around the loop), so start-up is not counted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(dirname(fileURLToPath(import.meta.url))), 'floor/probe-floor.c');

export interface FloorRun {
  probes: number;
  ok: number;
  failed: number;
  /** CPU of the loop, microseconds. */
  userUs: number;
  sysUs: number;
  wallS: number;
}

export interface FloorProgram {
  /**
   * `count` probes one at a time; `host` is one IPv4 literal or several, comma-separated, probed
   * round-robin. Back to back, or paced at `rate` per second in 10 ms ticks (as scripts/lib/rate.ts).
   */
  run(
    mode: 'tcp' | 'http',
    host: string,
    port: number,
    count: number,
    request?: string,
    rate?: number,
  ): FloorRun;
  /** Removes the compiled program. Idempotent. */
  dispose(): void;
}

/** Compiles the floor; throws with the compiler's words when there is no compiler or it fails. */
export function compileFloor(): FloorProgram {
  const dir = mkdtempSync(join(tmpdir(), 'vmprobe-floor-'));
  const bin = join(dir, 'probe-floor');
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-o', bin, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot compile the floor with ${cc}: ${stderr || (err as Error).message}`);
  }
  return {
    run(mode, host, port, count, request, rate) {
      const args = [
        ...(rate ? ['--rate', String(rate)] : []),
        mode,
        host,
        String(port),
        String(count),
        ...(request ? [request] : []),
      ];
      return JSON.parse(execFileSync(bin, args, { encoding: 'utf8' })) as FloorRun;
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
