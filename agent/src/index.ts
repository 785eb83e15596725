export { type Clock, systemClock, type TimerHandle } from './clock.js';
export { clampTimeoutSeconds, GRACE_MS, probeExec, probeGuestPing } from './probers/guest.js';
export * from './probers/index.js';
// The library loads the guest probers eagerly (probers/index.ts imports them on first use); this
// closeLauncherClients closes the default pool whichever way it was reached.
export {
  closeLauncherClients,
  LauncherClientPool,
  launcherClients,
  MAX_LAUNCHER_RESPONSE_BYTES,
} from './probers/launcher-client.js';
export { VERSION } from './version.js';
export * from './worker/index.js';
