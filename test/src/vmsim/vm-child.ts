import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PortSet } from './behaviour.js';
import { VmSimError, type VmSimErrorCode } from './errors.js';
import { which } from './run.js';
import { REQUEST_LOG_SIZE, type RecordedRequest, type VmBehaviour } from './types.js';
import type { VmBackend } from './vm.js';
import type { ChildMessage, ParentMessage } from './vm-protocol.js';

const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');

/** node arguments that run vm-process: through tsx from the sources (vitest), plain from dist. */
function childArgs(): string[] {
  const script = path.join(path.dirname(here), fromSource ? 'vm-process.ts' : 'vm-process.js');
  if (!fromSource) return [script];
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return ['--import', pathToFileURL(tsx).href, script];
}

const REPLY_TIMEOUT_MS = 20_000;

/**
 * Parent side of a netns VM: spawns `ip netns exec <ns> node vm-process` with an IPC channel,
 * mirrors its request log as the child streams it, and turns commands into acknowledged
 * round trips. Owns the child: stop() asks it to close its servers, then disconnects and waits for
 * it to exit (SIGKILL after a grace period). killSync() is for exit handlers.
 */
export class VmChild implements VmBackend {
  private child: ChildProcess | null = null;
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly log: RecordedRequest[] = [];
  private count = 0;
  private exited: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly ns: string,
    private readonly label: string,
  ) {}

  get requests(): ReadonlyArray<RecordedRequest> {
    return this.log;
  }

  requestCount(): number {
    return this.count;
  }

  /** Spawn the process and open its listeners; rejects with ERR_VM_PROCESS on failure. */
  async start(ports: PortSet, hosts: string[], tls?: { key: string; cert: string }): Promise<void> {
    const child = spawn(which('ip') ?? 'ip', ['netns', 'exec', this.ns, process.execPath, ...childArgs()], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: ChildMessage) => {
        if (m.t === 'ready') {
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null, sig: string | null) => {
        child.off('message', onMsg);
        reject(
          new VmSimError('ERR_VM_PROCESS', `VM ${this.label}: process exited before ready (${code ?? sig})`),
        );
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('error', () => {}); // EPIPE after the child went away; reported through 'exit'
    child.on('message', (m: ChildMessage) => this.onMessage(m));
    child.once('exit', (code, sig) => {
      const err = new VmSimError('ERR_VM_PROCESS', `VM ${this.label}: process exited (${code ?? sig})`);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      this.pending.clear();
      this.child = null;
    });
    await ready;
    await this.call({ t: 'init', seq: 0, ports, hosts, tls });
  }

  setBehaviour(b: VmBehaviour): Promise<void> {
    return this.call({ t: 'set', seq: 0, behaviour: b });
  }

  flushRequests(): Promise<void> {
    return this.call({ t: 'sync', seq: 0 });
  }

  /** Close the servers and end the process. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return this.exited;
    this.stopped = true;
    const child = this.child;
    if (!child) return;
    try {
      await this.call({ t: 'stop', seq: 0 });
    } catch {}
    if (child.connected) child.disconnect();
    const grace = setTimeout(() => child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(grace);
  }

  /** Exit-handler variant: kill at once. */
  killSync(): void {
    this.child?.kill('SIGKILL');
  }

  private onMessage(m: ChildMessage): void {
    if (m.t === 'req') {
      this.count++;
      this.log.push(m.rec);
      if (this.log.length > REQUEST_LOG_SIZE) this.log.shift();
    } else if (m.t === 'ack') {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      clearTimeout(p.timer);
      if (m.error) p.reject(new VmSimError(m.error.code as VmSimErrorCode, m.error.message));
      else p.resolve();
    }
  }

  private call(msg: ParentMessage): Promise<void> {
    const child = this.child;
    if (!child?.connected) {
      return Promise.reject(new VmSimError('ERR_VM_PROCESS', `VM ${this.label}: process is not running`));
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(
          new VmSimError(
            'ERR_VM_PROCESS',
            `VM ${this.label}: no answer to ${msg.t} within ${REPLY_TIMEOUT_MS} ms`,
          ),
        );
      }, REPLY_TIMEOUT_MS);
      this.pending.set(seq, { resolve, reject, timer });
      child.send({ ...msg, seq });
    });
  }
}
