import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VmSimError } from './errors.js';

/**
 * Cross-process claims on address slots. Each simulator instance owns one slot (one /16 of
 * 127.0.0.0/8 in loopback mode, one /20 of 198.18.0.0/15 in netns mode) through a file created with
 * O_EXCL in a shared state directory, so parallel test files never hand out the same address. The
 * file names the owning process; a claim whose process is gone is stale and is swept (its
 * namespaces, links and firewall rules removed) before the slot is reused.
 */
export interface InstanceRecord {
  mode: 'loopback' | 'netns';
  /** Random id embedded in every name the instance creates (namespaces, links, nft tables). */
  inst: string;
  slot: number;
  pid: number;
  /** Kernel start time of `pid` (field 22 of /proc/<pid>/stat), against pid reuse. */
  startTime: string;
}

export function stateDir(): string {
  const dir = process.env.VMSIM_STATE_DIR ?? path.join(os.tmpdir(), 'vmprobe-vmsim');
  try {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o1777);
  } catch {}
  return dir;
}

export function newInstanceId(): string {
  return randomBytes(3).toString('hex').slice(0, 5);
}

function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing paren are plain.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // field 22 overall
  } catch {
    return null;
  }
}

/** True while the process that wrote `rec` is still running. */
export function isLive(rec: InstanceRecord): boolean {
  const start = procStartTime(rec.pid);
  return start !== null && (rec.startTime === '' || start === rec.startTime);
}

function slotFile(mode: InstanceRecord['mode'], slot: number): string {
  return path.join(stateDir(), `${mode === 'loopback' ? 'lo' : 'ns'}-${slot}.json`);
}

export function readRecords(): InstanceRecord[] {
  const dir = stateDir();
  const out: InstanceRecord[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^(lo|ns)-\d+\.json$/.test(name)) continue;
    try {
      out.push(JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as InstanceRecord);
    } catch {}
  }
  return out;
}

/**
 * Claim the lowest free slot below `slots`. `sweep` is called (synchronously) with a stale record
 * before its slot is taken over.
 */
export function claimSlot(
  mode: InstanceRecord['mode'],
  slots: number,
  sweep: (stale: InstanceRecord) => void,
): InstanceRecord {
  const inst = newInstanceId();
  for (let slot = 0; slot < slots; slot++) {
    const file = slotFile(mode, slot);
    for (let attempt = 0; attempt < 2; attempt++) {
      const rec: InstanceRecord = {
        mode,
        inst,
        slot,
        pid: process.pid,
        startTime: procStartTime(process.pid) ?? '',
      };
      try {
        const fd = openSync(file, 'wx', 0o666);
        writeSync(fd, JSON.stringify(rec));
        closeSync(fd);
        return rec;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let old: InstanceRecord | null = null;
      try {
        old = JSON.parse(readFileSync(file, 'utf8')) as InstanceRecord;
      } catch {
        // Being written right now by its owner, or garbage: treat as taken.
        break;
      }
      if (isLive(old)) break;
      sweep(old);
      try {
        unlinkSync(file);
      } catch {}
    }
  }
  throw new VmSimError('ERR_ADDRESSES_EXHAUSTED', `all ${slots} ${mode} simulator slots are in use`);
}

/** Give a slot back. Idempotent; only removes the file if it is still ours. */
export function releaseSlot(rec: InstanceRecord): void {
  const file = slotFile(rec.mode, rec.slot);
  try {
    const cur = JSON.parse(readFileSync(file, 'utf8')) as InstanceRecord;
    if (cur.inst === rec.inst) unlinkSync(file);
  } catch {}
}
