// Waiting for a typed message from a forked child. Messages are objects with a `type`; a message of
// type 'error' (carrying `message`) rejects, as does the child exiting first.
import type { ChildProcess } from 'node:child_process';

export type ChildMessage = { type: string };

/** Resolves with the child's next message of `type`; `name` names the child in the exit error. */
export function nextMessage<M extends ChildMessage, T extends M['type']>(
  child: ChildProcess,
  type: T,
  name = 'child',
): Promise<Extract<M, { type: T }>> {
  return new Promise<Extract<M, { type: T }>>((resolve, reject) => {
    const on = (m: M) => {
      if (m.type === 'error') reject(new Error((m as unknown as { message: string }).message));
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<M, { type: T }>);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
}
