/**
 * Entry point of a netns VM's own process, started by the simulator with
 * `ip netns exec <ns> node vm-process.js` so that its sockets live in the VM's namespace.
 * Driven over the IPC channel (see vm-protocol.ts); exits when the channel closes, so a crashed
 * parent never leaves it behind.
 */
import { VmSimError } from './errors.js';
import type { ChildMessage, ParentMessage } from './vm-protocol.js';
import { VmServers } from './vm-servers.js';

let servers: VmServers | null = null;

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

async function handle(m: ParentMessage): Promise<void> {
  try {
    switch (m.t) {
      case 'init':
        servers = new VmServers({
          ...m.ports,
          hosts: m.hosts,
          tls: m.tls,
          // The record reaches the parent before the answer leaves, so a client that got its
          // response and then calls flushRequests() sees its request.
          onRequest: (rec) => send({ t: 'req', rec }),
        });
        await servers.setBehaviour({ kind: 'healthy' });
        break;
      case 'set':
        if (!servers) throw new VmSimError('ERR_VM_PROCESS', 'not initialised');
        await servers.setBehaviour(m.behaviour);
        break;
      case 'sync':
        break;
      case 'stop':
        await servers?.stop();
        break;
    }
    await send({ t: 'ack', seq: m.seq });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    await send({
      t: 'ack',
      seq: m.seq,
      error: { code: e.code ?? 'ERR_VM_PROCESS', message: e.message ?? String(err) },
    });
  }
}

process.on('message', (m: ParentMessage) => void handle(m));
process.on('disconnect', () => {
  void (servers?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
void send({ t: 'ready' });
