import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { VmSimError } from './errors.js';

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** Absolute path of an executable on PATH (or in the sbin directories), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return null;
}

function resolveCmd(cmd: string): string {
  return which(cmd) ?? cmd;
}

/** Run a system command; rejects with ERR_COMMAND_FAILED carrying its stderr. */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(resolveCmd(cmd), args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        const msg = `${cmd} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`;
        reject(new VmSimError('ERR_COMMAND_FAILED', msg, { cause: err }));
      } else {
        resolve(String(stdout));
      }
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Synchronous best-effort variant for exit handlers: never throws, returns stdout or null. */
export function runSync(cmd: string, args: string[], input?: string): string | null {
  try {
    return execFileSync(resolveCmd(cmd), args, {
      input,
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: 10_000,
    }).toString();
  } catch {
    return null;
  }
}
