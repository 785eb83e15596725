export {
  type AttemptDone,
  judgeStall,
  type ProbeAttemptInfo,
  ProbeWorker,
  type ProbeWorkerOptions,
  STALL_GRACE_MS,
} from './probe-worker.js';
export {
  applyResult,
  applyResultInPlace,
  type ProbeState,
  type ThresholdState,
  type Thresholds,
  thresholdStart,
} from './threshold.js';
