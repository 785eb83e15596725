// Waiting for a typed message from a forked child. Messages are objects with a `type`; a message of
// type 'error' (carrying `message`) rejects, as does the child exiting first. Each call removes the
// listeners it added once it settles.
import type { ChildProcess } from 'node:child_process';

export type ChildMessage = { type: string };

/** Resolves with the child's next message of `type`; `name` names the child in the exit error. */
export function nextMessage<M extends ChildMessage, T extends M['type']>(
  child: ChildProcess,
  type: T,
  name = 'child',
): Promise<Extract<M, { type: T }>> {
  return new Promise<Extract<M, { type: T }>>((resolve, reject) => {
    const done = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: M) => {
      if (m.type === 'error') {
        done();
        reject(new Error((m as unknown as { message: string }).message));
      } else if (m.type === type) {
        done();
        resolve(m as Extract<M, { type: T }>);
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`${name} exited (${code})`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
