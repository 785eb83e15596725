// Small numeric helpers shared by the benchmark scripts: quantiles and CPU time (own process via
// process.cpuUsage, another process via /proc/<pid>/stat).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The q-quantile (0..1) of an ascending array by the nearest-rank rule; NaN for an empty one. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** user + system of a process.cpuUsage() value, in seconds. */
export const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

let clockTicks: number | undefined;
/** Kernel clock ticks per second (USER_HZ; `getconf CLK_TCK`, 100 on Linux when that fails). */
function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * utime + stime of another process (all its threads), in seconds, from /proc/<pid>/stat. The
 * resolution is one clock tick (10 ms at USER_HZ 100): measure over seconds, not milliseconds.
 */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces and parentheses: the fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clkTck();
}
