/** Helpers for tests that drive the emulator through @kubernetes/client-node. */
import type { StatusObject } from './errors.js';

/** Awaits a client-node call expected to fail; returns the HTTP code and the parsed Status body. */
export async function apiFailure(
  p: Promise<unknown>,
): Promise<{ code: number; status: StatusObject; headers: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: number; body?: unknown; headers?: Record<string, string> };
    if (typeof err.code !== 'number') throw e;
    const body =
      typeof err.body === 'string' ? (JSON.parse(err.body) as StatusObject) : (err.body as StatusObject);
    return { code: err.code, status: body, headers: err.headers ?? {} };
  }
  throw new Error('expected the API call to fail, it succeeded');
}

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
  stepMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
